import { describe, expect, it } from 'vitest';
import { DetectionState } from '../../../src/detect/state/store.js';
import { egressEvent, T0 } from '../../helpers/events.js';

function stateWithTraffic(): DetectionState {
  const state = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
  const seen = new Map<string, string[]>();
  state.register({
    name: 'seen-hosts',
    identities: () => [...seen.keys()],
    exportIdentity: (id) => seen.get(id),
    importIdentity: (id, data) => seen.set(id, data as string[]),
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

describe('DetectionState binary export per identity', () => {
  it('round-trips baselines and detector parts of one identity, byte for byte', () => {
    const state = stateWithTraffic();
    const bytes = state.exportKeyBytes('app-a/app-a');
    expect(bytes[0]).toBe(2);
    const other = new DetectionState({ maxKeys: 100, tzOffsetMs: 0 });
    const parts = new Map<string, unknown>();
    other.register({
      name: 'seen-hosts',
      identities: () => [...parts.keys()],
      exportIdentity: (id) => parts.get(id),
      importIdentity: (id, data) => parts.set(id, data),
    });
    other.importKeyBytes('app-a/app-a', bytes);
    expect(other.keys()).toEqual(['app-a/app-a']);
    for (const host of ['www.ibm.com', 'ünïcode.example.org']) {
      const a = state.hosts.get(`app-a/app-a\u0001${host}`);
      const b = other.hosts.get(`app-a/app-a\u0001${host}`);
      expect(b).toBeDefined();
      expect(Buffer.from(b?.buffer as ArrayBuffer)).toEqual(Buffer.from(a?.buffer as ArrayBuffer));
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
    expect(state.domains.group('app-a/app-a').map(([name]) => name)).toEqual(['a2.com']);
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
      expect(Buffer.from(copy?.buffer as ArrayBuffer)).toEqual(Buffer.from(entry.value.buffer));
    }
  });
});
