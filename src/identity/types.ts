/**
 * The normalised event: one typed shape for everything downstream of parsing. Built by
 * `identity/` from an AccessRecord plus the shipper's metadata. Detectors must treat it as
 * read-only and must not keep a reference to it (the pipeline may reuse it); copy what you keep.
 */

/** Which proxy wrote the line. */
export type Reporter = 'sidecar' | 'egress-gateway' | 'ingress-gateway';

export type Protocol = 'http' | 'tcp' | 'tls';

/**
 * Which way the request went:
 * - `sidecar-to-gateway`: a sidecar sent it to the egress gateway (the monitored route);
 * - `gateway-to-external`: the egress gateway sent it out;
 * - `passthrough`: a sidecar sent it straight out via PassthroughCluster (ALLOW_ANY);
 * - `direct-external`: a sidecar sent it straight out via a cluster for an external host (ServiceEntry);
 * - `blackhole`: dropped (BlackHoleCluster, or the HTTP `block_all` direct response);
 * - `internal`: a destination inside the mesh;
 * - `inbound`: the server side of an in-mesh call (not egress).
 */
export type EgressPath =
  | 'sidecar-to-gateway'
  | 'gateway-to-external'
  | 'passthrough'
  | 'direct-external'
  | 'blackhole'
  | 'internal'
  | 'inbound';

/**
 * Which ambient-mode proxy wrote the line: `ztunnel` (a node's L4 record for a pod's connection) or
 * `waypoint` (the Envoy access line of a waypoint, e.g. the egress waypoint's leg out).
 */
export type AmbientProxy = 'ztunnel' | 'waypoint';

/** How the source identity was established, strongest first. */
export type Attribution = 'principal' | 'metadata' | 'pod-ip' | 'unknown';

/**
 * Where `principal` came from: `logged` = on this line (the gateway's peer SAN); `learned` = a sidecar
 * line's workload, paired with the principal it presents at the egress gateway (identity/principal-map.ts).
 */
export type PrincipalSource = 'logged' | 'learned';

export interface SourceIdentity {
  /** SPIFFE id, e.g. `spiffe://cluster.local/ns/app-a/sa/app-a`. */
  principal: string | null;
  /** How `principal` is known (absent or null when there is none). */
  principalSource?: PrincipalSource | null;
  namespace: string | null;
  workload: string | null;
  pod: string | null;
  ip: string | null;
  attribution: Attribution;
  /**
   * The grouping key, stable across pods of one workload: `namespace/workload` when known, else the
   * principal, else `unknown/<ip>`.
   */
  key: string;
}

export interface Destination {
  /** SNI, else HTTP authority (port stripped), else the host in `outbound|PORT|SUBSET|HOST`; null if only an IP is known. */
  host: string | null;
  /** Registrable domain (eTLD+1) of `host`, from the public-suffix list; null for IPs and mesh names. */
  registeredDomain: string | null;
  ip: string | null;
  port: number;
  /** Outside the mesh (not *.svc.cluster.local, not in a configured mesh CIDR). */
  external: boolean;
  /**
   * True when `host` is only the client's word: an SNI or authority on a connection whose cluster does
   * not route by that name (PassthroughCluster, BlackHoleCluster, none). Exceptions and
   * `gateway-bypass.ignoreHosts` then match the IP, not the name (#15). Absent or false otherwise.
   */
  nameUnverified?: boolean;
}

/**
 * Names on the line that the line's own addresses contradict (#15: the attacker chooses SNI and
 * authority, not where the proxy connected). `mesh-name-external-address`: an in-mesh name (a
 * `*.svc.cluster.local` host, a name without a dot, Istio's `outbound_.` SNI) on a connection to an
 * address outside the mesh that no cluster of the proxy vouches for; the event's `destination.host` is
 * then null, so alerts, policies, exceptions and ignore lists see the IP, not the claim.
 * `sni-authority-mismatch`: SNI and HTTP authority name different registrable domains (domain fronting).
 */
export interface NameClaim {
  kind: 'mesh-name-external-address' | 'sni-authority-mismatch';
  sni: string | null;
  authority: string | null;
}

export interface EgressEvent {
  /** Start time, epoch ms. */
  time: number;
  reporter: Reporter;
  protocol: Protocol;
  path: EgressPath;
  /** Upstream cluster as logged (`outbound|443||x.com`, `PassthroughCluster`, ...), or null. */
  cluster: string | null;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  responseCode: number;
  responseFlags: string | null;
  requestId: string | null;
  method: string | null;
  httpPath: string | null;
  source: SourceIdentity;
  destination: Destination;
  /** Where the line came from: `file:line` or `kafka:topic/partition/offset`. */
  origin: string;
  /** Fields the line had after the last one its format knows (` traceID=...`), as written; absent or null when none. */
  extra?: string | null;
  /** Set when the line's names contradict its addresses or each other (absent or null otherwise). */
  claim?: NameClaim | null;
  /** Set for ambient-mode lines (identity/ambient.ts); absent or null for sidecar and gateway lines. */
  ambient?: AmbientProxy | null;
}
