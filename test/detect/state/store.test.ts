import { describe, expect, it } from 'vitest';
import { buildDetection } from '../../../src/detect/build.js';
import { type DetectionConfig, DetectionConfigSchema } from '../../../src/detect/config.js';
import { BASELINE_BYTES, LEGACY_BASELINE_BYTES } from '../../../src/detect/state/baseline.js';
import { DetectionState } from '../../../src/detect/state/store.js';
import { PolicySet } from '../../../src/policy/policy-set.js';
import { egressEvent, T0 } from '../../helpers/events.js';

function stateWithTraffic(): DetectionState {
  const state = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
  const seen = new Map<string, string[]>();
  state.register({
    name: 'seen-hosts',
    identities: () => [...seen.keys()],
    exportIdentity: (id) => seen.get(id),
    importIdentity: (id, data) => seen.set(id, data as string[]),
    deleteIdentity: (id) => seen.delete(id),
  });
  for (let i = 0; i < 6; i++) {
    const host = i % 2 === 0 ? 'www.ibm.com' : 'ünïcode.example.org';
    const e = egressEvent({ time: T0 + i * 3_600_000, host, bytesUp: 1000 * (i + 1) });
    state.observe(e);
    seen.set(e.source.key, [...(seen.get(e.source.key) ?? []), host]);
  }
  state.observe(
    egressEvent({
      time: T0,
      host: 'api.github.com',
      source: { ...egressEvent().source, key: 'app-b/app-b' },
    }),
  );
  return state;
}

/** app-a/app-a's export after one call each to two hosts (one non-ASCII), through every detector. */
function twoHostsExport(): { config: DetectionConfig; bytes: Buffer } {
  const config = DetectionConfigSchema.parse({});
  const engine = buildDetection(config, new PolicySet([]), () => {});
  for (const host of ['www.ibm.com', 'ünïcode.example.org']) engine.observe(egressEvent({ time: T0, host }));
  engine.flush();
  return { config, bytes: engine.state.exportKeyBytes('app-a/app-a') };
}

describe('DetectionState binary export per identity', () => {
  it('round-trips baselines and detector parts of one identity, byte for byte', () => {
    const state = stateWithTraffic();
    const bytes = state.exportKeyBytes('app-a/app-a');
    expect(bytes[0]).toBe(4);
    const other = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    const parts = new Map<string, unknown>();
    other.register({
      name: 'seen-hosts',
      identities: () => [...parts.keys()],
      exportIdentity: (id) => parts.get(id),
      importIdentity: (id, data) => parts.set(id, data),
      deleteIdentity: (id) => parts.delete(id),
    });
    other.importKeyBytes('app-a/app-a', bytes);
    expect(other.keys()).toEqual(['app-a/app-a']);
    for (const host of ['www.ibm.com', 'ünïcode.example.org']) {
      const a = state.hosts.get(`app-a/app-a\u0001${host}`);
      const b = other.hosts.get(`app-a/app-a\u0001${host}`);
      expect(b).toBeDefined();
      expect(Buffer.from(b?.bytes as Uint8Array)).toEqual(Buffer.from(a?.bytes as Uint8Array));
    }
    expect(parts.get('app-a/app-a')).toHaveLength(6);
    expect(other.exportKeyBytes('app-a/app-a')).toEqual(bytes);
  });

  it('is smaller than the JSON export and still reads a JSON export from an older changelog', () => {
    const state = stateWithTraffic();
    const json = state.exportKey('app-a/app-a');
    expect(state.exportKeyBytes('app-a/app-a').length).toBeLessThan(Buffer.byteLength(json) * 0.8);
    const other = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    other.importKeyBytes('app-a/app-a', Buffer.from(json));
    expect(other.hosts.get('app-a/app-a\u0001www.ibm.com')).toBeDefined();
  });

  it('refuses truncated or unknown binary state with the identity named', () => {
    const state = stateWithTraffic();
    const bytes = state.exportKeyBytes('app-a/app-a');
    const other = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    expect(() => other.importKeyBytes('app-a/app-a', bytes.subarray(0, 40))).toThrow(/app-a\/app-a/);
    expect(() => other.importKeyBytes('x', Buffer.from([9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(
      /unsupported binary state for x/,
    );
  });

  it('exports only the empty header for an identity without state', () => {
    expect(stateWithTraffic().exportKeyBytes('nobody/here').length).toBe(13);
  });
});

describe('DetectionState per-identity index', () => {
  it('does not export baselines that were evicted, and drops an identity left with none', () => {
    const state = new DetectionState({ maxKeys: 4, tzOffsetMs: 0 });
    const source = (key: string) => ({ ...egressEvent().source, key });
    // app-a gets 3 hosts first (coldest), then app-b 3 hosts: the cap of 4 evicts 2 of app-a's.
    for (let i = 0; i < 3; i++)
      state.observe(
        egressEvent({ time: T0 + i * 60_000, host: `www.a${i}.com`, source: source('app-a/app-a') }),
      );
    for (let i = 0; i < 3; i++)
      state.observe(
        egressEvent({ time: T0 + (10 + i) * 60_000, host: `www.b${i}.com`, source: source('app-b/app-b') }),
      );
    const hostsLeft = [...state.hosts.entries()]
      .map(([k]) => k)
      .filter((k) => k.startsWith('app-a/app-a\u0001'));
    expect(hostsLeft).toEqual(['app-a/app-a\u0001www.a2.com']);
    // The domain table also holds each identity's total (under the name ''): app-b's two entries
    // per event evicted all four of app-a's.
    expect(state.domains.group('app-a/app-a').map(([name]) => name)).toEqual([]);
    const other = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    other.importKeyBytes('app-a/app-a', state.exportKeyBytes('app-a/app-a'));
    expect([...other.hosts.entries()].map(([k]) => k)).toEqual(hostsLeft);
    const json = JSON.parse(state.exportKey('app-a/app-a')) as { hosts: Record<string, string> };
    expect(Object.keys(json.hosts)).toEqual(['www.a2.com']);

    // More app-b traffic evicts app-a's last host and domain: it has no state and exports the empty header.
    for (let i = 3; i < 8; i++)
      state.observe(
        egressEvent({ time: T0 + (20 + i) * 60_000, host: `www.b${i}.com`, source: source('app-b/app-b') }),
      );
    expect(state.keys()).toEqual(['app-b/app-b']);
    expect(state.exportKeyBytes('app-a/app-a').length).toBe(13);
  });

  it('replaces rather than duplicates a baseline imported twice', () => {
    const state = stateWithTraffic();
    const bytes = state.exportKeyBytes('app-a/app-a');
    const other = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    other.importKeyBytes('app-a/app-a', bytes);
    other.importKeyBytes('app-a/app-a', bytes);
    expect(other.hosts.size).toBe(state.hosts.groupSize('app-a/app-a'));
    expect(other.hosts.groupSize('app-a/app-a')).toBe(2);
    for (const [host, entry] of state.hosts.group('app-a/app-a')) {
      const copy = other.hosts.get(`app-a/app-a\u0001${host}`);
      expect(Buffer.from(copy?.bytes as Uint8Array)).toEqual(Buffer.from(entry.value.bytes));
    }
  });
});

/**
 * A baseline in the layout before windows (LEGACY_BASELINE_BYTES): last seen at Float64 11, the
 * beacon count at Float64 19, the beacon ring's first burst (seconds hi, lo, size) at Uint16 377 of
 * the body that starts at byte 176.
 */
function legacyBaseline(lastSeen: number, beaconSeconds: number): Buffer {
  const b = Buffer.alloc(LEGACY_BASELINE_BYTES);
  b.writeDoubleLE(lastSeen - 3_600_000, 10 * 8);
  b.writeDoubleLE(lastSeen, 11 * 8);
  b.writeDoubleLE(lastSeen - 3_600_000, 18 * 8);
  b.writeDoubleLE(1, 19 * 8);
  b.writeUInt16LE(beaconSeconds & 0xffff, 176 + 378 * 2);
  return b;
}

/**
 * What version 2 of exportKeyBytes wrote (names and baselines interleaved, parts as JSON), with
 * baselines in the layout of that time.
 */
function exportVersion2(state: DetectionState, identity: string, parts: Record<string, unknown>): Buffer {
  const chunks: Buffer[] = [Buffer.from([2])];
  for (const table of [state.hosts, state.domains]) {
    const entries = table.group(identity);
    const count = Buffer.alloc(4);
    count.writeUInt32LE(entries.length);
    chunks.push(count);
    for (const [dest, entry] of entries) {
      const name = Buffer.from(dest, 'utf8');
      const length = Buffer.alloc(2);
      length.writeUInt16LE(name.length);
      chunks.push(length, name, legacyBaseline(entry.value.lastSeen, 42));
    }
  }
  const json = Buffer.from(Object.keys(parts).length > 0 ? JSON.stringify(parts) : '', 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  chunks.push(length, json);
  return Buffer.concat(chunks);
}

function seenPart(store: Map<string, unknown>) {
  return {
    name: 'seen-hosts',
    identities: () => [...store.keys()],
    exportIdentity: (id: string) => store.get(id),
    importIdentity: (id: string, data: unknown) => void store.set(id, data),
    deleteIdentity: (id: string) => void store.delete(id),
  };
}

function hostsOf(state: DetectionState, identity: string): string[] {
  return state.hosts.group(identity).map(([name]) => name);
}

describe('DetectionState import as a changelog restore does it', () => {
  it('reads a version 2 export from an older changelog', () => {
    const state = stateWithTraffic();
    const v2 = exportVersion2(state, 'app-a/app-a', { 'seen-hosts': ['www.ibm.com'] });
    const parts = new Map<string, unknown>();
    const other = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    other.register(seenPart(parts));
    other.importKeyBytes('app-a/app-a', v2);
    expect(hostsOf(other, 'app-a/app-a')).toEqual(hostsOf(state, 'app-a/app-a'));
    const a = state.hosts.get('app-a/app-a\u0001www.ibm.com');
    const b = other.hosts.get('app-a/app-a\u0001www.ibm.com');
    // Converted: the clocks and the beacon track carry over, the volume history starts again.
    expect(b?.lastSeen).toBe(a?.lastSeen);
    expect(b?.firstSeen).toBe(a?.lastSeen);
    expect(b?.beaconSeries(4).times).toEqual([42]);
    expect(b?.stats(0, 1, 3, 1)).toBeNull();
    expect(parts.get('app-a/app-a')).toEqual(['www.ibm.com']);
  });

  it('lets a later version win: baselines and parts it no longer has are dropped', () => {
    const parts = new Map<string, unknown>();
    const state = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    state.register(seenPart(parts));
    for (const host of ['www.ibm.com', 'api.github.com']) state.observe(egressEvent({ time: T0, host }));
    parts.set('app-a/app-a', ['www.ibm.com', 'api.github.com']);
    const older = state.exportKeyBytes('app-a/app-a');
    // Later: api.github.com was evicted and the part forgot the identity.
    state.hosts.delete('app-a/app-a\u0001api.github.com');
    state.domains.delete('app-a/app-a\u0001github.com');
    parts.clear();
    const newer = state.exportKeyBytes('app-a/app-a');

    const restoredParts = new Map<string, unknown>();
    const restored = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    restored.register(seenPart(restoredParts));
    restored.importKeyBytes('app-a/app-a', older);
    expect(hostsOf(restored, 'app-a/app-a').sort()).toEqual(['api.github.com', 'www.ibm.com']);
    expect(restoredParts.has('app-a/app-a')).toBe(true);
    restored.importKeyBytes('app-a/app-a', newer);
    expect(hostsOf(restored, 'app-a/app-a')).toEqual(['www.ibm.com']);
    expect(restored.domains.group('app-a/app-a').map(([d]) => d)).toEqual(['ibm.com', '']);
    expect(restored.hosts.size).toBe(1);
    expect(restoredParts.has('app-a/app-a')).toBe(false);
    expect(restored.exportKeyBytes('app-a/app-a')).toEqual(newer);
  });

  it('forgets an identity on a tombstone and leaves the others alone', () => {
    const parts = new Map<string, unknown>();
    const state = stateWithTraffic();
    const restored = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    restored.register(seenPart(parts));
    for (const id of ['app-a/app-a', 'app-b/app-b']) restored.importKeyBytes(id, state.exportKeyBytes(id));
    parts.set('app-a/app-a', ['x']);
    expect(restored.identityCount()).toBe(2);
    restored.deleteKey('app-a/app-a');
    expect(restored.keys()).toEqual(['app-b/app-b']);
    expect(restored.identityCount()).toBe(1);
    expect(parts.has('app-a/app-a')).toBe(false);
  });

  it('gives each restored baseline its own bytes although they share buffers', () => {
    const state = stateWithTraffic();
    const restored = new DetectionState({ maxKeys: 1000, tzOffsetMs: 0 });
    for (let i = 0; i < 300; i++) restored.importKeyBytes(`ns/w${i}`, state.exportKeyBytes('app-a/app-a'));
    const first = restored.hosts.get('ns/w0\u0001www.ibm.com');
    const last = restored.hosts.get('ns/w299\u0001www.ibm.com');
    expect(first?.c.buffer).not.toBe(last?.c.buffer);
    const before = Buffer.from(last?.bytes as Uint8Array);
    first?.add(T0 + 86_400_000, 0, 1, 100);
    expect(Buffer.from(last?.bytes as Uint8Array)).toEqual(before);
    expect(Buffer.from(first?.bytes as Uint8Array)).not.toEqual(before);
    expect(restored.hosts.size).toBe(600);
  });

  it('finds restored baselines by their keys whatever the identity and host are written in', () => {
    const bytes = stateWithTraffic().exportKeyBytes('app-a/app-a');
    const restored = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    for (const id of ['ns/ascii', 'ns/wörk', `ns/${'x'.repeat(300)}`]) {
      restored.importKeyBytes(id, bytes);
      for (const host of ['www.ibm.com', 'ünïcode.example.org'])
        expect(restored.hosts.get(`${id}\u0001${host}`), `${id} ${host}`).toBeDefined();
      expect(hostsOf(restored, id).sort()).toEqual(['www.ibm.com', 'ünïcode.example.org']);
      restored.importKeyBytes(id, bytes);
      expect(restored.hosts.groupSize(id)).toBe(2);
    }
    expect(restored.hosts.size).toBe(6);
  });

  it('uses owned, aligned baselines in place and copies the others', () => {
    const bytes = stateWithTraffic().exportKeyBytes('app-a/app-a');
    // The value placed so that it ends at a multiple of 8, as the changelog reader worker packs it.
    const chunk = new ArrayBuffer(bytes.length + 64);
    const at = 64 - (bytes.length % 8);
    const value = Buffer.from(chunk, at, bytes.length);
    bytes.copy(value);
    const inPlace = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    inPlace.importKeyBytes('app-a/app-a', value, true);
    expect(inPlace.hosts.get('app-a/app-a\u0001www.ibm.com')?.c.buffer).toBe(chunk);
    const copied = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    copied.importKeyBytes('app-a/app-a', value);
    const baseline = copied.hosts.get('app-a/app-a\u0001www.ibm.com');
    expect(baseline?.c.buffer).not.toBe(chunk);
    const before = Buffer.from(baseline?.bytes as Uint8Array);
    value.fill(0);
    expect(Buffer.from(baseline?.bytes as Uint8Array)).toEqual(before);
    expect(copied.hosts.groupSize('app-a/app-a')).toBe(2);
  });

  it('refuses a version 3 export whose sections do not add up', () => {
    const bytes = stateWithTraffic().exportKeyBytes('app-a/app-a');
    const other = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    const longer = Buffer.concat([bytes, Buffer.alloc(8)]);
    expect(() => other.importKeyBytes('app-a/app-a', longer)).toThrow(/app-a\/app-a is truncated/);
    const lying = Buffer.from(bytes);
    lying.writeUInt32LE(1_000_000, 1);
    expect(() => other.importKeyBytes('app-a/app-a', lying)).toThrow(/truncated/);
    expect(other.hosts.size).toBe(0);
  });

  it('round-trips the new-destination detector part in its binary form', () => {
    const { config, bytes } = twoHostsExport();
    expect(bytes.includes(Buffer.from('new-destination'))).toBe(true);
    expect(bytes.length).toBe(
      bytes.indexOf(Buffer.from('new-destination')) +
        'new-destination'.length +
        5 +
        12 +
        [...['www.ibm.com', '.ibm.com', 'ünïcode.example.org', '.example.org']].reduce(
          (n, name) => n + 10 + Buffer.byteLength(name),
          0,
        ) +
        5 * BASELINE_BYTES, // two hosts, two domains, the identity total
    );
    const other = buildDetection(config, new PolicySet([]), () => {});
    other.state.importKeyBytes('app-a/app-a', bytes);
    expect(other.state.exportKeyBytes('app-a/app-a')).toEqual(bytes);
  });

  it('keeps a restored new-destination part as its owned bytes and still knows its names when traffic comes', () => {
    const { config, bytes } = twoHostsExport();
    const chunk = new ArrayBuffer(bytes.length + 64);
    const value = Buffer.from(chunk, 64 - (bytes.length % 8), bytes.length);
    bytes.copy(value);
    const findings: string[] = [];
    const other = buildDetection(config, new PolicySet([]), (f) =>
      findings.push(`${f.ruleId} ${f.dedupKey}`),
    );
    other.state.importKeyBytes('app-a/app-a', value, true);
    // Exported again before any traffic: the same bytes.
    expect(other.state.exportKeyBytes('app-a/app-a')).toEqual(bytes);
    other.state.startTime = T0;
    const later = T0 + 2 * 86_400_000;
    other.observe(egressEvent({ time: later, host: 'www.ibm.com' }));
    other.observe(egressEvent({ time: later + 1000, host: 'ünïcode.example.org' }));
    other.observe(egressEvent({ time: later + 2000, host: 'exfil.example.net' }));
    other.flush();
    expect(findings.filter((f) => f.startsWith('new-destination'))).toEqual([
      'new-destination app-a/app-a -> example.net',
    ]);
    // A malformed part is refused at import although it would be decoded only later.
    const cut = Buffer.from(bytes);
    const partAt = cut.indexOf(Buffer.from('new-destination')) + 'new-destination'.length + 1;
    cut.writeUInt32LE(cut.readUInt32LE(partAt + 4 + 8) + 5, partAt + 4 + 8);
    const third = buildDetection(config, new PolicySet([]), () => {});
    expect(() => third.state.importKeyBytes('app-a/app-a', cut, true)).toThrow(
      /new-destination state of app-a\/app-a is truncated/,
    );
  });
});
