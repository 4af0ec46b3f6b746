/**
 * Fluent Bit `tail` + `kubernetes` filter (fluent-bit-docs pipeline/filters/kubernetes.md): the line
 * under `log` (or `message`), metadata under `kubernetes` {pod_name, namespace_name, pod_ip, labels,
 * container_name, host}. With Merge_Log the access fields sit at the top level (or `log` is an object).
 */
import { looksLikeJsonAccess } from '../envoy-json.js';
import type { ShipperMeta } from '../types.js';
import { isZtunnelObject } from '../ztunnel.js';
import { applyLabels, describeType, shipperTime, str } from './meta.js';
import { type InnerSink, isObject, type JsonEnvelope, type JsonObject } from './types.js';

interface PodLabels {
  readonly namespace: string | null;
  readonly workload: string | null;
  readonly istioLabel: string | null;
  readonly gatewayName: string | null;
}
const podLabels = new Map<string, PodLabels>();

/** Does this `kubernetes` object make the record a Fluent Bit one (and not Filebeat's or Vector's)? */
export function isFluentBitKubernetes(k: JsonObject): boolean {
  return (
    !isObject(k.pod) &&
    k.pod_namespace === undefined &&
    k.pod_labels === undefined &&
    (k.pod_name !== undefined || k.namespace_name !== undefined)
  );
}

/** Fills everything but `shippedAt` from Fluent Bit's `kubernetes` block (shared with the fast scan). */
export function readFluentBitMeta(k: JsonObject, m: ShipperMeta): void {
  m.pod = str(k.pod_name);
  m.namespace = str(k.namespace_name);
  m.podIp = str(k.pod_ip);
  m.container = str(k.container_name);
  m.node = str(k.host);
  // A pod's labels do not change during its life: read them once per pod, not once per line.
  const known = m.pod === null ? undefined : podLabels.get(m.pod);
  if (known !== undefined && known.namespace === m.namespace) {
    m.workload = known.workload;
    m.istioLabel = known.istioLabel;
    m.gatewayName = known.gatewayName;
  } else {
    applyLabels(m, k.labels, null);
    if (m.pod !== null) {
      if (podLabels.size >= 20000) podLabels.clear();
      podLabels.set(m.pod, {
        namespace: m.namespace,
        workload: m.workload,
        istioLabel: m.istioLabel,
        gatewayName: m.gatewayName,
      });
    }
  }
}

export const fluentBitEnvelope: JsonEnvelope = {
  name: 'fluent-bit',
  matches(o) {
    const k = o.kubernetes;
    return isObject(k) && (k.pod_name !== undefined || k.namespace_name !== undefined);
  },
  open(o: JsonObject, m: ShipperMeta, sink: InnerSink) {
    readFluentBitMeta(o.kubernetes as JsonObject, m);
    m.shippedAt = shipperTime(o.time ?? o['@timestamp'] ?? o.date);
    // A merged ztunnel JSON record keeps its own `message` ("connection complete"): the record is the payload.
    if (isZtunnelObject(o)) return sink.object(o, m);
    const payload = 'log' in o ? o.log : o.message;
    if (typeof payload === 'string') sink.line(payload, m);
    else if (isObject(payload) && looksLikeJsonAccess(payload)) sink.object(payload, m);
    else if (payload === undefined && looksLikeJsonAccess(o)) sink.object(o, m);
    else
      sink.broken(
        `Fluent Bit envelope: "log"/"message" is ${describeType(payload)}, expected the access line as a string`,
      );
  },
};
