/**
 * Graded attacks for `npm run bench:quality`: each a simulator traffic generator (src/simulate
 * record builders, so its lines go through the same render, parse and normalise path as the mesh's)
 * with a label naming the rule that should catch it and how to recognise that alert.
 *
 * Intensities:
 * - exfiltration: `x` times the target key's usual upload over `minutes` (usual: the key's mean
 *   bytes up per minute at that hour of day, measured on the learning days), on top of its traffic;
 * - beacon: period and jitter (gaps uniform in period x (1 +- jitter)), constant sizes +-10 %;
 * - new host under an allowed wildcard: a few calls to a host never used;
 * - subdomain spray: `names` random labels under one domain within 5 minutes;
 * - forbidden access: one protocol (TLS through the gateway, HTTP through PassthroughCluster, plain
 *   TCP to a ServiceEntry host), a few connections.
 */
import type { RuleId } from '../src/alerts/types.js';
import type { TrafficContext, TrafficGenerator } from '../src/simulate/benign.js';
import { viaGateway } from '../src/simulate/benign.js';
import { passthroughHttp, type SimRecord } from '../src/simulate/record.js';
import { forkRng, type Rng } from '../src/simulate/rng.js';
import { MINUTE, type Pod, WORKLOADS, type WorkloadSpec } from '../src/simulate/topology.js';

export type AttackFamily = 'exfiltration' | 'beacon' | 'new-host' | 'subdomain-spray' | 'forbidden';

export interface GradedAttack {
  family: AttackFamily;
  /** Human label of the intensity, e.g. "10x over 20 min". */
  intensity: string;
  rule: RuleId;
  source: WorkloadSpec;
  /** Destination the alert must name (host or `*.domain`), or null for any (volume totals). */
  destination: string | null;
  start: number;
  end: number;
  /** How long after `end` an alert still counts as detecting it. */
  grace: number;
  generator(ctx: TrafficContext, seed: string | number): TrafficGenerator;
}

/** The keys exfiltration targets: busy allowed keys of three identities. */
export const EXFIL_TARGETS = [
  { source: WORKLOADS.appA, host: 'api.ibm.com' },
  { source: WORKLOADS.appB, host: 'mongo1.composedb.com' },
  { source: WORKLOADS.metricsAgent, host: 'api.datadoghq.com' },
] as const;

/** Calls of `minute`'s traffic, spread at random over it. */
function spread(rng: Rng, minute: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(minute + Math.floor(rng.next() * MINUTE));
  return out.sort((a, b) => a - b);
}

/** host, bytes up, bytes down, duration (ms) of one connection. */
type Call = readonly [host: string, up: number, down: number, durationMs: number];

/**
 * One connection from `pod` through the egress gateway, none when the workload has no pod then.
 * `draw` runs only when there is a pod, so each attack draws the same random numbers as before.
 */
function fromPodViaGateway(
  ctx: TrafficContext,
  rng: Rng,
  t: number,
  pod: Pod | undefined,
  draw: () => Call,
  out: SimRecord[],
): void {
  if (pod === undefined) return;
  const [host, up, down, durationMs] = draw();
  out.push(...viaGateway(ctx, rng, t, pod, host, up, down, durationMs));
}

class MinuteGenerator implements TrafficGenerator {
  private readonly rng: Rng;
  constructor(
    private readonly from: number,
    private readonly to: number,
    seed: string | number,
    name: string,
    private readonly minute: (rng: Rng, minute: number, out: SimRecord[]) => void,
  ) {
    this.rng = forkRng(seed, `quality/${name}`);
  }
  generate(from: number, to: number, out: SimRecord[]): void {
    const first = Math.max(from, this.from);
    const last = Math.min(to, this.to);
    for (let m = Math.ceil(first / MINUTE) * MINUTE; m < last; m += MINUTE) this.minute(this.rng, m, out);
  }
}

export function exfiltration(
  target: (typeof EXFIL_TARGETS)[number],
  times: number,
  minutes: number,
  start: number,
  usualPerMinute: () => number,
): GradedAttack {
  const end = start + minutes * MINUTE;
  // Read when the attack starts (the learning days it is measured on are over by then).
  let usual: number | null = null;
  return {
    family: 'exfiltration',
    intensity: `${times}x over ${minutes} min`,
    rule: 'volume-spike',
    source: target.source,
    destination: null,
    start,
    end,
    grace: 10 * MINUTE,
    generator: (ctx, seed) =>
      new MinuteGenerator(start, end, seed, `exfil/${start}`, (rng, minute, out) => {
        usual ??= usualPerMinute();
        const bytes = times * usual * (0.8 + 0.4 * rng.next());
        const calls = rng.int(2, 6);
        for (const t of spread(rng, minute, calls)) {
          fromPodViaGateway(
            ctx,
            rng,
            t,
            ctx.cluster.podAt(target.source, t, rng),
            () => [target.host, bytes / calls, rng.int(300, 900), rng.int(50, 400)],
            out,
          );
        }
      }),
  };
}

export function beacon(periodMin: number, jitter: number, start: number, host: string): GradedAttack {
  const period = periodMin * MINUTE;
  const duration = Math.max(3 * 60 * MINUTE, 12 * period);
  const end = start + duration;
  return {
    family: 'beacon',
    intensity: `every ${periodMin} min, jitter ${Math.round(jitter * 100)} %`,
    rule: 'beaconing',
    source: WORKLOADS.frontend,
    destination: host,
    start,
    end,
    grace: 0,
    generator: (ctx, seed) => {
      const rng = forkRng(seed, `quality/beacon/${host}`);
      const calls: number[] = [];
      for (let t = start; t < end; t += Math.round(period * (1 + jitter * (2 * rng.next() - 1))))
        calls.push(t);
      let pod: Pod | undefined;
      let next = 0;
      return {
        generate(from: number, to: number, out: SimRecord[]) {
          while (next < calls.length && (calls[next] as number) < to) {
            const t = calls[next++] as number;
            if (t < from) continue;
            // One compromised pod, kept while it lives.
            if (pod === undefined || t >= pod.to) pod = ctx.cluster.podAt(WORKLOADS.frontend, t, rng);
            fromPodViaGateway(
              ctx,
              rng,
              t,
              pod,
              () => [
                host,
                1200 * (0.9 + 0.2 * rng.next()),
                3400 * (0.9 + 0.2 * rng.next()),
                rng.int(80, 160),
              ],
              out,
            );
          }
        },
      };
    },
  };
}

export function newHost(calls: number, start: number, host: string): GradedAttack {
  const end = start + calls * 2 * MINUTE;
  return {
    family: 'new-host',
    intensity: `${calls} call${calls === 1 ? '' : 's'}`,
    rule: 'new-destination',
    source: WORKLOADS.appA,
    destination: host,
    start,
    end,
    grace: 5 * MINUTE,
    generator: (ctx, seed) =>
      new MinuteGenerator(start, end, seed, `new-host/${host}`, (rng, minute, out) => {
        if ((minute - start) % (2 * MINUTE) !== 0) return;
        const t = minute + rng.int(0, 50_000);
        fromPodViaGateway(
          ctx,
          rng,
          t,
          ctx.cluster.podAt(WORKLOADS.appA, t, rng),
          () => [host, rng.int(2000, 90_000), rng.int(2000, 9000), rng.int(80, 600)],
          out,
        );
      }),
  };
}

export function subdomainSpray(names: number, start: number, domain: string): GradedAttack {
  const end = start + 5 * MINUTE;
  return {
    family: 'subdomain-spray',
    intensity: `${names} names in 5 min`,
    rule: 'high-cardinality-domain',
    source: WORKLOADS.appA,
    destination: `*.${domain}`,
    start,
    end,
    grace: 5 * MINUTE,
    generator: (ctx, seed) => {
      let sent = 0;
      return new MinuteGenerator(start, end, seed, `spray/${domain}`, (rng, minute, out) => {
        const left = Math.ceil((names - sent) / Math.max(1, (end - minute) / MINUTE));
        for (const t of spread(rng, minute, left)) {
          sent++;
          fromPodViaGateway(
            ctx,
            rng,
            t,
            ctx.cluster.podAt(WORKLOADS.appA, t, rng),
            () => [
              `${rng.hex(6)}${rng.alnum(14)}.x.${domain}`,
              rng.int(300, 700),
              rng.int(100, 400),
              rng.int(20, 90),
            ],
            out,
          );
        }
      });
    },
  };
}

export type ForbiddenProtocol = 'tls' | 'http' | 'tcp';

export function forbidden(protocol: ForbiddenProtocol, start: number, host: string): GradedAttack {
  const end = start + 5 * MINUTE;
  return {
    family: 'forbidden',
    intensity: protocol.toUpperCase(),
    rule: 'forbidden-destination',
    source: WORKLOADS.appA,
    destination: host,
    start,
    end,
    grace: 5 * MINUTE,
    generator: (ctx, seed) =>
      new MinuteGenerator(start, end, seed, `forbidden/${host}`, (rng, minute, out) => {
        const t = minute + rng.int(0, 50_000);
        const pod = ctx.cluster.podAt(WORKLOADS.appA, t, rng);
        if (!pod) return;
        if (protocol === 'tls') {
          fromPodViaGateway(
            ctx,
            rng,
            t,
            pod,
            () => [host, rng.int(900, 9000), rng.int(2000, 40_000), rng.int(40, 400)],
            out,
          );
        } else if (protocol === 'http') {
          out.push(
            passthroughHttp(rng, t, pod, host, {
              method: 'POST',
              path: '/upload',
              code: 200,
              bytesUp: rng.int(900, 9000),
              bytesDown: rng.int(200, 900),
              duration: rng.int(40, 400),
              userAgent: 'curl/8.5.0',
            }),
          );
        } else {
          // Plain TCP to a ServiceEntry host straight from the sidecar: no SNI, the host is only in
          // the cluster name (outbound|PORT||HOST).
          for (const r of viaGateway(ctx, rng, t, pod, host, rng.int(900, 9000), rng.int(2000, 40_000), 80)) {
            if (r.reporter !== pod) continue;
            r.sni = '-';
            r.cluster = `outbound|5432||${host}`;
            r.upstreamHost = r.downstreamLocal.replace(/:\d+$/, ':5432');
            r.downstreamLocal = r.upstreamHost;
            out.push(r);
          }
        }
      }),
  };
}
