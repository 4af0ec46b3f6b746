/**
 * OpenTelemetry logs as OTLP/JSON (opentelemetry-proto examples/logs.json), as exported by the
 * collector's filelog + container + k8sattributes pipeline: Kubernetes metadata in
 * `resourceLogs[].resource.attributes` (k8s.namespace.name, k8s.pod.name, k8s.pod.ip,
 * k8s.container.name, k8s.node.name, k8s.deployment.name, k8s.pod.labels.<label>), and one access
 * line per `scopeLogs[].logRecords[].body.stringValue`. One message carries many records.
 */
import type { ShipperMeta } from '../types.js';
import { applyLabels, resetMeta, shipperTime } from './meta.js';
import { type InnerSink, isObject, type JsonEnvelope, type JsonObject } from './types.js';

function attrValue(v: unknown): string | null {
  if (!isObject(v)) return null;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.intValue === 'number' || typeof v.intValue === 'string') return String(v.intValue);
  return null;
}

const LABEL_PREFIX = 'k8s.pod.labels.';

export const otlpEnvelope: JsonEnvelope = {
  name: 'otlp',
  matches(o) {
    return Array.isArray(o.resourceLogs);
  },
  open(o: JsonObject, m: ShipperMeta, sink: InnerSink) {
    const resources = o.resourceLogs as unknown[];
    for (let r = 0; r < resources.length; r++) {
      const res = resources[r];
      if (!isObject(res)) {
        sink.broken(`OTLP envelope: resourceLogs[${r}] is not an object`);
        continue;
      }
      resetMeta(m);
      let labels: JsonObject | null = null;
      let deployment: string | null = null;
      const attrs = isObject(res.resource) ? res.resource.attributes : undefined;
      if (Array.isArray(attrs)) {
        for (const a of attrs) {
          if (!isObject(a) || typeof a.key !== 'string') continue;
          const v = attrValue(a.value);
          switch (a.key) {
            case 'k8s.namespace.name':
              m.namespace = v;
              break;
            case 'k8s.pod.name':
              m.pod = v;
              break;
            case 'k8s.pod.ip':
              m.podIp = v;
              break;
            case 'k8s.container.name':
              m.container = v;
              break;
            case 'k8s.node.name':
              m.node = v;
              break;
            case 'k8s.deployment.name':
              deployment = v;
              break;
            default:
              if (a.key.startsWith(LABEL_PREFIX)) {
                labels ??= {};
                labels[a.key.slice(LABEL_PREFIX.length)] = v;
              }
          }
        }
      }
      applyLabels(m, labels, deployment);
      const scopes = res.scopeLogs;
      if (!Array.isArray(scopes)) {
        sink.broken(`OTLP envelope: resourceLogs[${r}].scopeLogs is not an array`);
        continue;
      }
      for (let s = 0; s < scopes.length; s++) {
        const scope = scopes[s];
        const records = isObject(scope) ? scope.logRecords : undefined;
        if (!Array.isArray(records)) {
          sink.broken(`OTLP envelope: resourceLogs[${r}].scopeLogs[${s}].logRecords is not an array`);
          continue;
        }
        for (let i = 0; i < records.length; i++) {
          const rec = records[i];
          const body = isObject(rec) && isObject(rec.body) ? rec.body.stringValue : undefined;
          if (typeof body !== 'string') {
            sink.broken(
              `OTLP envelope: resourceLogs[${r}].scopeLogs[${s}].logRecords[${i}].body.stringValue is missing`,
            );
            continue;
          }
          m.shippedAt = shipperTime(
            (rec as JsonObject).timeUnixNano ?? (rec as JsonObject).observedTimeUnixNano,
          );
          sink.line(body, m);
        }
      }
    }
  },
};
