/**
 * EgressEvent's fields, written once. `newEgressEvent` is typed so that it fails to compile when a
 * field is added to types.ts and not to it (every optional field is present too, null or false,
 * so every event has one shape from the start and a reused one never keeps an earlier line's value).
 * `copyEgressEvent` refills an existing event (the engine's pooled copies: no allocation per event);
 * test/identity/event.test.ts fills every field of the template with a value of its own and fails when
 * the copy, or the by-source topic's codec (scale/event-codec.ts), loses one.
 */
import type { Destination, EgressEvent, SourceIdentity } from './types.js';

/** An EgressEvent with every optional field present: what `newEgressEvent` must spell out. */
export type CompleteEgressEvent = Required<Omit<EgressEvent, 'source' | 'destination'>> & {
  source: Required<SourceIdentity>;
  destination: Required<Destination>;
};

/** A blank event (also the order of its keys, which JSON output of events follows). */
export function newEgressEvent(): EgressEvent {
  const e: CompleteEgressEvent = {
    time: 0,
    reporter: 'sidecar',
    protocol: 'tcp',
    path: 'internal',
    cluster: null,
    bytesUp: 0,
    bytesDown: 0,
    durationMs: 0,
    responseCode: 0,
    responseFlags: null,
    requestId: null,
    method: null,
    httpPath: null,
    source: {
      principal: null,
      principalSource: null,
      namespace: null,
      workload: null,
      pod: null,
      ip: null,
      attribution: 'unknown',
      key: '',
    },
    destination: {
      host: null,
      registeredDomain: null,
      ip: null,
      port: 0,
      external: false,
      nameUnverified: false,
    },
    origin: '',
    upstreamLocalAddress: null,
    downstreamRemoteAddress: null,
    sni: null,
    join: null,
    ambient: null,
    claim: null,
    extra: null,
  };
  return e;
}

/**
 * Refills `into` (and its nested source and destination) from `e`; returns `into`. The copy starts
 * unjoined (`join` null): the connection join is detection's to set on the copy it keeps. `claim` is
 * shared: a NameClaim is never changed after it is made.
 */
export function copyEgressEvent(into: EgressEvent, e: EgressEvent): EgressEvent {
  into.time = e.time;
  into.reporter = e.reporter;
  into.protocol = e.protocol;
  into.path = e.path;
  into.cluster = e.cluster;
  into.bytesUp = e.bytesUp;
  into.bytesDown = e.bytesDown;
  into.durationMs = e.durationMs;
  into.responseCode = e.responseCode;
  into.responseFlags = e.responseFlags;
  into.requestId = e.requestId;
  into.method = e.method;
  into.httpPath = e.httpPath;
  into.origin = e.origin;
  into.upstreamLocalAddress = e.upstreamLocalAddress ?? null;
  into.downstreamRemoteAddress = e.downstreamRemoteAddress ?? null;
  into.sni = e.sni ?? null;
  into.join = null;
  into.ambient = e.ambient ?? null;
  const s = into.source;
  const f = e.source;
  s.principal = f.principal;
  s.principalSource = f.principalSource ?? null;
  s.namespace = f.namespace;
  s.workload = f.workload;
  s.pod = f.pod;
  s.ip = f.ip;
  s.attribution = f.attribution;
  s.key = f.key;
  const d = into.destination;
  const g = e.destination;
  d.host = g.host;
  d.registeredDomain = g.registeredDomain;
  d.ip = g.ip;
  d.port = g.port;
  d.external = g.external;
  d.nameUnverified = g.nameUnverified ?? false;
  into.claim = e.claim ?? null;
  into.extra = e.extra ?? null;
  return into;
}

/** A new event with `e`'s fields (for a consumer that keeps events: the normaliser reuses its one). */
export function cloneEgressEvent(e: EgressEvent): EgressEvent {
  return copyEgressEvent(newEgressEvent(), e);
}
