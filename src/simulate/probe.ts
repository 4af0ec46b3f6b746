/**
 * Latency probes for the benchmarks and scale tests: a copy of a simulated line with its external
 * host replaced by a never-seen one, which new-destination alerts on.
 */

/**
 * Copies a sidecar-to-gateway leg (a Fluent Bit record of the client sidecar's Istio JSON line,
 * which names the external host in its SNI, or for HTTP in its authority) with its destination
 * replaced by `host`; null for any other line (plain TCP legs name no host). Not the gateway's own leg: while sidecar legs arrive, per-identity detectors judge
 * those and skip the gateway's copy of the same connection, so a probe on a gateway leg alone
 * would (rightly) raise nothing.
 */
export function probeLine(line: string, host: string): string | null {
  const env = JSON.parse(line) as { log: string };
  const inner = JSON.parse(env.log) as Record<string, string>;
  const named = (v: string | undefined) => v !== undefined && v !== '-';
  const sni = inner.requested_server_name;
  if (!(inner.upstream_cluster ?? '').includes('egressgateway') || !(named(sni) || named(inner.authority)))
    return null;
  if (named(sni)) inner.requested_server_name = host;
  if (named(inner.authority)) inner.authority = host;
  env.log = JSON.stringify(inner);
  return JSON.stringify(env);
}

interface FluentBitRecord {
  time?: string;
  log: string;
  kubernetes?: Record<string, unknown>;
}

/**
 * A whole probe connection: `probeLine`'s sidecar leg on a connection address of its own, and the
 * egress gateway's leg of that connection (the gateway pod the sidecar's upstream host names, the
 * host in SNI or authority and in `outbound|443||HOST`, the sidecar's address as its downstream
 * remote address). Detection joins the two at once, as it does a real connection's legs; a lone
 * sidecar leg would wait out the join's tolerance for a gateway leg that never comes. `n` makes the
 * connection's address unique. Null for lines `probeLine` refuses.
 */
export function probeConnection(line: string, host: string, n: number): [string, string] | null {
  const sidecarLine = probeLine(line, host);
  if (sidecarLine === null) return null;
  const env = JSON.parse(sidecarLine) as FluentBitRecord;
  const s = JSON.parse(env.log) as Record<string, string>;
  const local = s.upstream_local_address ?? '-';
  const callerIp = local.slice(0, local.lastIndexOf(':'));
  const gatewayHost = s.upstream_host ?? '-';
  const gatewayIp = gatewayHost.slice(0, gatewayHost.lastIndexOf(':'));
  if (callerIp === '' || gatewayIp === '') return null;
  // A port ephemeral ranges never hand out (61000-65535), so no real connection shares it.
  const address = `${callerIp}:${61_000 + (n % 4500)}`;
  s.upstream_local_address = address;
  // A request id of its own: the original request's gateway leg must not pair with the probe.
  if (s.request_id !== undefined && s.request_id !== '-')
    s.request_id = `probe-${n}-${s.request_id.slice(8)}`;
  env.log = JSON.stringify(s);
  const g: Record<string, string> = {
    ...s,
    upstream_host: `203.0.113.${1 + (n % 250)}:443`,
    upstream_cluster: `outbound|443||${host}`,
    upstream_local_address: `${gatewayIp}:${41_000 + (n % 9000)}`,
    downstream_local_address: gatewayHost,
    downstream_remote_address: address,
    requested_server_name: s.requested_server_name === '-' ? '-' : host,
  };
  // The caller's principal as the gateway logs it (the simulator's service account is the workload):
  // it names the caller's namespace, so both legs reach the same by-source partition in scaled mode.
  const k8s = (env.kubernetes ?? {}) as { namespace_name?: string; labels?: Record<string, string> };
  const app = k8s.labels?.app;
  if (k8s.namespace_name !== undefined && app !== undefined)
    g.downstream_peer_uri_san = `spiffe://cluster.local/ns/${k8s.namespace_name}/sa/${app}`;
  const gateway: FluentBitRecord = {
    ...env,
    log: JSON.stringify(g),
    kubernetes: {
      ...env.kubernetes,
      pod_name: 'istio-egressgateway-probe',
      namespace_name: 'istio-system',
      labels: { app: 'istio-egressgateway', istio: 'egressgateway' },
      pod_ip: gatewayIp,
    },
  };
  return [JSON.stringify(env), JSON.stringify(gateway)];
}
