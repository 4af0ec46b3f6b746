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
