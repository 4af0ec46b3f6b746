/** Helpers shared by the envelopes: resetting the reused meta, labels to workload, times. */
import { parseIsoTime } from '../time.js';
import type { ShipperMeta } from '../types.js';
import { isObject, type JsonObject } from './types.js';

/**
 * The decoder's reused ShipperMeta. The Fluent Bit scanner leaves `shippedAt` pending (the span of
 * the record's time value) and it is parsed on first read: the normaliser reads it only for lines
 * without their own START_TIME, so most lines never pay for it. `shippedAt` is an accessor: copy
 * it explicitly (`{ ...m }` skips it). Assigning it (resetMeta does) drops the pending span.
 */
export class LazyShipperMeta implements ShipperMeta {
  namespace: string | null = null;
  pod: string | null = null;
  podIp: string | null = null;
  container: string | null = null;
  node: string | null = null;
  workload: string | null = null;
  istioLabel: string | null = null;
  gatewayName: string | null = null;
  #value = Number.NaN;
  #pendingRaw: string | null = null;
  #pendingStart = -1;
  #pendingEnd = -1;
  #pendingParse: ((raw: string, start: number, end: number) => number) | null = null;

  get shippedAt(): number {
    const raw = this.#pendingRaw;
    if (raw !== null && this.#pendingParse !== null) {
      this.#value = this.#pendingParse(raw, this.#pendingStart, this.#pendingEnd);
      this.#pendingRaw = null;
    }
    return this.#value;
  }

  set shippedAt(v: number) {
    this.#value = v;
    this.#pendingRaw = null;
  }

  /** `shippedAt` is `parse(raw, start, end)`, computed on first read. */
  deferShippedAt(
    raw: string,
    start: number,
    end: number,
    parse: (raw: string, start: number, end: number) => number,
  ): void {
    this.#pendingRaw = raw;
    this.#pendingStart = start;
    this.#pendingEnd = end;
    this.#pendingParse = parse;
  }
}

export function resetMeta(m: ShipperMeta): void {
  m.namespace = null;
  m.pod = null;
  m.podIp = null;
  m.container = null;
  m.node = null;
  m.workload = null;
  m.istioLabel = null;
  m.gatewayName = null;
  m.shippedAt = Number.NaN;
}

export function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** Reads a label, also in Filebeat's de-dotted spelling (`service_istio_io/canonical-name`). */
function label(labels: JsonObject, key: string, dedotted: string): string | null {
  return str(labels[key]) ?? str(labels[dedotted]);
}

/**
 * Fills workload / istioLabel / gatewayName from pod labels; workload falls back to the
 * deployment name, then to the pod name without its ReplicaSet / StatefulSet suffix.
 */
export function applyLabels(m: ShipperMeta, labels: unknown, deployment: string | null): void {
  if (isObject(labels)) {
    m.workload =
      label(labels, 'service.istio.io/canonical-name', 'service_istio_io/canonical-name') ?? str(labels.app);
    m.istioLabel = str(labels.istio);
    m.gatewayName = label(
      labels,
      'gateway.networking.k8s.io/gateway-name',
      'gateway_networking_k8s_io/gateway-name',
    );
  }
  if (m.workload === null) m.workload = deployment ?? (m.pod === null ? null : workloadFromPodName(m.pod));
}

const podCache = new Map<string, string>();

/**
 * Kubernetes' generated name parts (k8s.io/apimachinery `util/rand`: `String(n)` and
 * `SafeEncodeString` draw from this alphabet, no vowels and no 0, 1, 3): a Deployment's ReplicaSet
 * is `<deployment>-<pod-template-hash>` (the hash's decimal digits encoded, up to 10 characters), its
 * pods `<replicaset>-<5 random>`; DaemonSet, Job and bare ReplicaSet pods `<owner>-<5 random>`; a
 * CronJob's Job `<cronjob>-<scheduled minute since epoch>`; StatefulSet pods `<set>-<ordinal>`.
 */
const K8S_RAND = '[bcdfghjklmnpqrstvwxz2456789]';
const DEPLOYMENT_POD = new RegExp(`^(.+)-${K8S_RAND}{6,10}-${K8S_RAND}{5}$`);
const CRONJOB_POD = new RegExp(`^(.+)-\\d{8,10}-${K8S_RAND}{5}$`);
const GENERATED_POD = new RegExp(`^(.+)-${K8S_RAND}{5}$`);
const STATEFULSET_POD = /^(.+)-(?:0|[1-9]\d{0,5})$/;

/**
 * The workload a pod belongs to, from its name, cutting only what Kubernetes' generators append:
 * `reviews-v1-545db77b95-z6fx5` -> `reviews-v1`; `fluentd-x7k2q` -> `fluentd`; `web-0` -> `web`;
 * `backup-29410560-w7c2k` -> `backup`. A name no generator produced stays whole (`istio-debug`, a
 * bare pod, is not workload `istio`: `debug` has vowels the random alphabet lacks).
 */
export function workloadFromPodName(pod: string): string {
  const hit = podCache.get(pod);
  if (hit !== undefined) return hit;
  const m =
    DEPLOYMENT_POD.exec(pod) ?? CRONJOB_POD.exec(pod) ?? GENERATED_POD.exec(pod) ?? STATEFULSET_POD.exec(pod);
  const w = m === null ? pod : (m[1] as string);
  if (podCache.size >= 10000) podCache.clear();
  podCache.set(pod, w);
  return w;
}

/** A shipper timestamp: ISO string, epoch seconds (float) or epoch nanoseconds (OTLP, number or string). */
export function shipperTime(v: unknown): number {
  if (typeof v === 'string') {
    // Epoch nanoseconds as a decimal string (OTLP): drop the last 6 digits rather than divide, to stay exact.
    if (v.length > 6 && v.charCodeAt(0) >= 48 && v.charCodeAt(0) <= 57 && v.indexOf('-') < 0)
      return Number(v.slice(0, -6));
    return parseIsoTime(v, 0, v.length);
  }
  if (typeof v === 'number') return v > 1e15 ? Math.round(v / 1e6) : v > 1e11 ? v : Math.round(v * 1000);
  return Number.NaN;
}

/** For envelope reasons: "missing", "null", "an array", "a number". */
export function describeType(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
