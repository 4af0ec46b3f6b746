import { describe, expect, it } from 'vitest';
import { ENVELOPES, type EnvelopeName } from '../../src/simulate/envelope.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { HOUR } from '../../src/simulate/topology.js';

const opts = { durationMs: HOUR, format: 'text' as const };
const bare = [...generateTraffic({ ...opts, envelope: 'none' })];
type Json = Record<string, unknown>;
const wrapped = (envelope: EnvelopeName) =>
  [...generateTraffic({ ...opts, envelope })].map((l) => JSON.parse(l) as Json);
/** Walks a parsed message by keys and array indexes (test-only, so a missing key is just undefined). */
const at = (value: unknown, ...keys: (string | number)[]): unknown =>
  keys.reduce<unknown>(
    (v, k) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined),
    value,
  );
const s = (value: unknown) => String(value);

interface Shape {
  line: string;
  pod: string;
  ns: string;
  container: string;
  ip: string;
}

// Where each shipper puts the raw line and the pod metadata (reference access-logs.md §5).
const shape: Record<Exclude<EnvelopeName, 'none'>, (e: Json) => Shape> = {
  'fluent-bit': (e) => ({
    line: s(e.log),
    pod: s(at(e, 'kubernetes', 'pod_name')),
    ns: s(at(e, 'kubernetes', 'namespace_name')),
    container: s(at(e, 'kubernetes', 'container_name')),
    ip: s(at(e, 'kubernetes', 'pod_ip')),
  }),
  filebeat: (e) => ({
    line: s(e.message),
    pod: s(at(e, 'kubernetes', 'pod', 'name')),
    ns: s(at(e, 'kubernetes', 'namespace')),
    container: s(at(e, 'kubernetes', 'container', 'name')),
    ip: s(at(e, 'kubernetes', 'pod', 'ip')),
  }),
  vector: (e) => ({
    line: s(e.message),
    pod: s(at(e, 'kubernetes', 'pod_name')),
    ns: s(at(e, 'kubernetes', 'pod_namespace')),
    container: s(at(e, 'kubernetes', 'container_name')),
    ip: s(at(e, 'kubernetes', 'pod_ip')),
  }),
  otlp: (e) => {
    const attrs = at(e, 'resourceLogs', 0, 'resource', 'attributes') as {
      key: string;
      value: { stringValue: string };
    }[];
    const attr = (k: string) => s(attrs.find((a) => a.key === k)?.value.stringValue);
    return {
      line: s(at(e, 'resourceLogs', 0, 'scopeLogs', 0, 'logRecords', 0, 'body', 'stringValue')),
      pod: attr('k8s.pod.name'),
      ns: attr('k8s.namespace.name'),
      container: attr('k8s.container.name'),
      ip: attr('k8s.pod.ip'),
    };
  },
};

describe('envelopes', () => {
  for (const envelope of ENVELOPES.filter((e) => e !== 'none') as Exclude<EnvelopeName, 'none'>[]) {
    it(`${envelope}: each message is JSON carrying the raw line and the reporting pod's metadata`, () => {
      const messages = wrapped(envelope);
      expect(messages).toHaveLength(bare.length);
      messages.forEach((m, i) => {
        const s = shape[envelope](m);
        expect(s.line).toBe(bare[i]);
        expect(s.container).toBe('istio-proxy');
        expect(s.pod).toMatch(/^[a-z0-9-]+$/);
        expect(s.ip).toMatch(/^10\.244\.\d+\.\d+$/);
      });
      const gateway = messages.map(shape[envelope]).find((s) => s.ns === 'istio-system');
      expect(gateway?.pod).toMatch(/^istio-egressgateway-/);
    });
  }

  it('fluent-bit: gateway pods carry the istio=egressgateway label and the time key', () => {
    const gw = wrapped('fluent-bit').find((m) => at(m, 'kubernetes', 'namespace_name') === 'istio-system');
    expect(at(gw, 'kubernetes', 'labels', 'istio')).toBe('egressgateway');
    expect(Date.parse(s(gw?.time))).not.toBeNaN();
  });

  it('otlp: times are nanosecond strings and the delivery time follows the start time', () => {
    for (const m of wrapped('otlp').slice(0, 200)) {
      const rec = at(m, 'resourceLogs', 0, 'scopeLogs', 0, 'logRecords', 0);
      expect(s(at(rec, 'timeUnixNano'))).toMatch(/^\d{19}$/);
      expect(BigInt(s(at(rec, 'observedTimeUnixNano')))).toBeGreaterThan(BigInt(s(at(rec, 'timeUnixNano'))));
    }
  });
});
