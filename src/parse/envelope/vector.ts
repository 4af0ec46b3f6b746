/**
 * Vector `kubernetes_logs` source (vector kubernetes_logs.cue): `message` plus
 * `kubernetes.{pod_name,pod_namespace,pod_ip,pod_labels,container_name,pod_node_name}`, serialised
 * either nested under `kubernetes` or as flat dotted keys (`"kubernetes.pod_name"`).
 */
import type { ShipperMeta } from '../types.js';
import { applyLabels, describeType, shipperTime, str } from './meta.js';
import { type InnerSink, isObject, type JsonEnvelope, type JsonObject } from './types.js';

export const vectorEnvelope: JsonEnvelope = {
  name: 'vector',
  matches(o) {
    const k = o.kubernetes;
    if (isObject(k)) return k.pod_namespace !== undefined || k.pod_labels !== undefined;
    return o['kubernetes.pod_name'] !== undefined || o['kubernetes.pod_namespace'] !== undefined;
  },
  open(o: JsonObject, m: ShipperMeta, sink: InnerSink) {
    const nested = isObject(o.kubernetes) ? o.kubernetes : null;
    const get = nested === null ? (key: string) => o[`kubernetes.${key}`] : (key: string) => nested[key];
    m.pod = str(get('pod_name'));
    m.namespace = str(get('pod_namespace'));
    m.podIp = str(get('pod_ip'));
    m.container = str(get('container_name'));
    m.node = str(get('pod_node_name'));
    let labels = get('pod_labels');
    if (labels === undefined && nested === null) {
      // Flat form: "kubernetes.pod_labels.app": "x".
      const prefix = 'kubernetes.pod_labels.';
      // No prototype: a key `kubernetes.pod_labels.__proto__` must stay a label, not become the
      // prototype every other label is read through (it turned a line into a gateway line).
      const collected: JsonObject = Object.create(null);
      for (const key in o) if (key.startsWith(prefix)) collected[key.slice(prefix.length)] = o[key];
      labels = collected;
    }
    applyLabels(m, labels, null);
    m.shippedAt = shipperTime(o.timestamp);
    const payload = o.message;
    if (typeof payload === 'string') sink.line(payload, m);
    else
      sink.broken(
        `Vector envelope: "message" is ${describeType(payload)}, expected the access line as a string`,
      );
  },
};
