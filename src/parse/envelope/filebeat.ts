/**
 * Filebeat `container` input / filestream `container` parser + add_kubernetes_metadata (Elastic
 * "Kubernetes fields"): the line in `message`, `kubernetes.pod.{name,ip}`, `kubernetes.namespace`,
 * `kubernetes.labels` (maybe de-dotted), `kubernetes.container.name`, `kubernetes.node.name`.
 */
import type { ShipperMeta } from '../types.js';
import { applyLabels, describeType, shipperTime, str } from './meta.js';
import { type InnerSink, isObject, type JsonEnvelope, type JsonObject } from './types.js';

export const filebeatEnvelope: JsonEnvelope = {
  name: 'filebeat',
  matches(o) {
    const k = o.kubernetes;
    return isObject(k) && isObject(k.pod);
  },
  open(o: JsonObject, m: ShipperMeta, sink: InnerSink) {
    const k = o.kubernetes as JsonObject;
    const pod = k.pod as JsonObject;
    m.pod = str(pod.name);
    m.podIp = str(pod.ip);
    m.namespace =
      typeof k.namespace === 'string' ? k.namespace : isObject(k.namespace) ? str(k.namespace.name) : null;
    m.container = isObject(k.container)
      ? str(k.container.name)
      : isObject(o.container)
        ? str(o.container.name)
        : null;
    m.node = isObject(k.node) ? str(k.node.name) : null;
    applyLabels(m, k.labels, isObject(k.deployment) ? str(k.deployment.name) : null);
    m.shippedAt = shipperTime(o['@timestamp']);
    const payload = o.message;
    if (typeof payload === 'string') sink.line(payload, m);
    else
      sink.broken(
        `Filebeat envelope: "message" is ${describeType(payload)}, expected the access line as a string`,
      );
  },
};
