import { describe, expect, it } from 'vitest';
import { ConnectionJoiner } from '../../src/detect/join.js';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { cloneEgressEvent } from '../../src/identity/event.js';
import { Normalizer } from '../../src/identity/normalizer.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { probeConnection, probeLine } from '../../src/simulate/probe.js';

function egressOf(line: string): EgressEvent[] {
  const normalizer = new Normalizer(MeshConfigSchema.parse({}));
  const out: EgressEvent[] = [];
  new LineDecoder().decode(line, {
    access: (r, m) =>
      out.push(cloneEgressEvent(normalizer.normalize(r, m, { source: 'test', position: '1' }))),
    skipped: () => {},
    malformed: (reason) => {
      throw new Error(reason);
    },
  });
  return out;
}

describe('probeLine', () => {
  const lines = [
    ...generateTraffic({
      start: Date.parse('2025-03-03T08:00:00.000Z'),
      durationMs: 10 * 60_000,
      rate: 200,
      format: 'json',
      envelope: 'fluent-bit',
      seed: 5,
      attacks: [],
    }),
  ];

  it('turns a sidecar leg to the egress gateway into one to the given host, and refuses every other line', () => {
    let probes = 0;
    for (const line of lines) {
      const probe = probeLine(line, 'api.never-seen.example');
      const [event] = egressOf(line);
      if (event?.path !== 'sidecar-to-gateway' || event.destination.host === null) {
        expect(probe).toBeNull();
        continue;
      }
      probes++;
      const [probed] = egressOf(probe as string);
      expect(probed?.path).toBe('sidecar-to-gateway');
      expect(probed?.destination.host).toBe('api.never-seen.example');
      expect(probed?.source.key).toBe(event.source.key);
      expect(probed?.time).toBe(event.time);
    }
    expect(probes).toBeGreaterThan(10);
  });
});

describe('probeConnection', () => {
  const lines = [
    ...generateTraffic({
      start: Date.parse('2025-03-03T08:00:00.000Z'),
      durationMs: 5 * 60_000,
      rate: 200,
      format: 'json',
      envelope: 'fluent-bit',
      seed: 5,
      attacks: [],
    }),
  ];

  it('makes both legs of one connection, which the connection join pairs at once by address or request id', () => {
    let n = 0;
    for (const line of lines) {
      const pair = probeConnection(line, `api.probe-${n}.example`, n);
      if (pair === null) continue;
      const [sidecar] = egressOf(pair[0]);
      const [gateway] = egressOf(pair[1]);
      expect(sidecar?.path).toBe('sidecar-to-gateway');
      expect(gateway?.path).toBe('gateway-to-external');
      expect(gateway?.reporter).toBe('egress-gateway');
      const out: EgressEvent[] = [];
      const j = new ConnectionJoiner({ toleranceMs: 60_000 }, (e) => out.push(e));
      j.push(sidecar as EgressEvent);
      j.push(gateway as EgressEvent);
      // Nothing waits: both legs are through before event time moves on.
      expect(out).toHaveLength(2);
      expect(['address', 'request-id']).toContain(out[0]?.join?.by);
      expect(out[0]?.destination.host).toBe(`api.probe-${n}.example`);
      n++;
    }
    expect(n).toBeGreaterThan(10);
  });
});
