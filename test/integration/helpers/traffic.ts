/**
 * Istio TEXT access lines for delivery tests, in the exact layout of the real captures in
 * test/fixtures (reference L12/L14): sidecar TCP/TLS connections straight out via
 * PassthroughCluster (gateway-bypass, one distinct destination per attack line) and sidecar
 * calls to the egress gateway (benign). Time advances one second per line.
 */
export const TRAFFIC_T0 = Date.UTC(2026, 0, 15, 9, 0, 0);

function ts(ms: number): string {
  return new Date(ms).toISOString();
}

/** `n`-th line: every `attackEvery`-th is a passthrough connection to `exfil-<n>.attacker.example`. */
export function trafficLine(n: number, attackEvery: number): string {
  const t = ts(TRAFFIC_T0 + n * 1000);
  const pod = `10.244.0.${10 + (n % 7)}`;
  if (n % attackEvery === 0) {
    const ip = `203.0.${(n >> 8) & 255}.${n & 255}`;
    return `[${t}] "- - -" 0 - - - "-" 789 6096 75 - "-" "-" "-" "-" "${ip}:443" PassthroughCluster ${pod}:43514 ${ip}:443 ${pod}:43512 exfil-${n}.attacker.example -`;
  }
  return `[${t}] "- - -" 0 - - - "-" 844 5875 101 - "-" "-" "-" "-" "10.96.12.40:443" outbound|443||istio-egressgateway.istio-system.svc.cluster.local ${pod}:59172 10.96.12.40:443 ${pod}:59170 api.partner.example -`;
}

export function trafficLines(from: number, to: number, attackEvery: number): string[] {
  const out: string[] = [];
  for (let n = from; n < to; n++) out.push(trafficLine(n, attackEvery));
  return out;
}
