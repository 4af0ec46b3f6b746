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

/** How the two legs of one connection through the egress gateway were found to belong together. */
export type JoinMethod = 'address' | 'request-id' | 'internal-listener' | 'source-and-destination';

/**
 * What the connection join (detect/join.ts) found for a leg through the egress gateway: the sidecar's
 * leg to the gateway, or the gateway's leg out. Set in detection, never by parsing.
 */
export interface LegJoin {
  /**
   * How the other leg was found: `address` (the sidecar's upstream local address is the gateway's
   * downstream remote address), `request-id` (HTTP), `internal-listener` (a gateway forwarding by SNI
   * through an Envoy internal listener: the sidecar's leg joined by address to the gateway's outer
   * leg, and that leg to the inner leg out, which started with it on the same internal address),
   * `source-and-destination` (caller IP or principal + destination, the last resort when a line
   * lacks the addresses); `none` when the wait for it ran out.
   */
  by: JoinMethod | 'none';
  /**
   * A gateway forwarding through an internal listener: where the gateway's outer leg (the one from
   * the caller into the internal listener) came from; absent when there is none.
   */
  outerOrigin?: string;
  /** Where the other leg came from (`file:line`, `kafka:...`), null when none was found. */
  otherOrigin: string | null;
  /** The other leg's start time minus this one's, ms (0 when none). */
  skewMs: number;
  /** The SNI the egress gateway logged for this connection; null when it logged none or its leg is unknown. */
  gatewaySni: string | null;
  /** Gateway legs: the sidecar that would have sent it is in the input (its pod's lines are being read). */
  senderInInput: boolean;
  /**
   * A sidecar leg with no gateway leg found that knew only the IP it dialled: the host name was taken
   * from earlier gateway legs to that IP (which named exactly one host for it).
   */
  hostFromEarlierLegs?: boolean;
  /**
   * Another leg of this connection reached detection late (behind the watermark, not analysed itself)
   * and was joined to this one, which waited on time: this leg stands for the connection and is judged,
   * a gateway leg too (it took the sidecar's identity). Absent otherwise.
   */
  late?: true;
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
  /** %UPSTREAM_LOCAL_ADDRESS% as logged (`ip:port`): on a sidecar's leg to the gateway, its end of the connection. */
  upstreamLocalAddress?: string | null;
  /** %DOWNSTREAM_REMOTE_ADDRESS% as logged: on the gateway's leg, the sidecar's end of the same connection. */
  downstreamRemoteAddress?: string | null;
  /** %REQUESTED_SERVER_NAME% as logged, null when none (or Istio's own `outbound_.…` mTLS SNI). */
  sni?: string | null;
  /** Legs through the egress gateway: what the connection join found (detect/join.ts); null elsewhere. */
  join?: LegJoin | null;
  /** Fields the line had after the last one its format knows (` traceID=...`), as written; absent or null when none. */
  extra?: string | null;
  /** Set when the line's names contradict its addresses or each other (absent or null otherwise). */
  claim?: NameClaim | null;
  /** Set for ambient-mode lines (identity/ambient.ts); absent or null for sidecar and gateway lines. */
  ambient?: AmbientProxy | null;
}
