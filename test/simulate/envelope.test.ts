import { describe, expect, it } from 'vitest';
import { ENVELOPES, type EnvelopeName } from '../../src/simulate/envelope.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { HOUR } from '../../src/simulate/topology.js';

const opts = { durationMs: HOUR, format: 'text' as const };
const bare = [...generateTraffic({ ...opts, envelope: 'none' })];
const wrapped = (envelope: EnvelopeName) => [...generateTraffic({ ...opts, envelope })].map((l) => JSON.parse(l) as Record<string, any>);

// Where each shipper puts the raw line and the pod metadata (reference access-logs.md §5).
const shape: Record<Exclude<EnvelopeName, 'none'>, (e: Record<string, any>) => { line: string; pod: string; ns: string; container: string; ip: string }> = {
  'fluent-bit': (e) => ({ line: e.log, pod: e.kubernetes.pod_name, ns: e.kubernetes.namespace_name, container: e.kubernetes.container_name, ip: e.kubernetes.pod_ip }),
  filebeat: (e) => ({ line: e.message, pod: e.kubernetes.pod.name, ns: e.kubernetes.namespace, container: e.kubernetes.container.name, ip: e.kubernetes.pod.ip }),
  vector: (e) => ({ line: e.message, pod: e.kubernetes.pod_name, ns: e.kubernetes.pod_namespace, container: e.kubernetes.container_name, ip: e.kubernetes.pod_ip }),
  otlp: (e) => {
    const rl = e.resourceLogs[0];
    const attr = (k: string) => rl.resource.attributes.find((a: { key: string }) => a.key === k)?.value.stringValue;
    return { line: rl.scopeLogs[0].logRecords[0].body.stringValue, pod: attr('k8s.pod.name'), ns: attr('k8s.namespace.name'), container: attr('k8s.container.name'), ip: attr('k8s.pod.ip') };
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
    const gw = wrapped('fluent-bit').find((m) => m.kubernetes.namespace_name === 'istio-system');
    expect(gw?.kubernetes.labels.istio).toBe('egressgateway');
    expect(Date.parse(gw?.time)).not.toBeNaN();
  });

  it('otlp: times are nanosecond strings and the delivery time follows the start time', () => {
    for (const m of wrapped('otlp').slice(0, 200)) {
      const rec = m.resourceLogs[0].scopeLogs[0].logRecords[0];
      expect(rec.timeUnixNano).toMatch(/^\d{19}$/);
      expect(BigInt(rec.observedTimeUnixNano)).toBeGreaterThan(BigInt(rec.timeUnixNano));
    }
  });
});
