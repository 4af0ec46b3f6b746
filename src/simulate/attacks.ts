/**
 * The attacks of the seed's threat model, each a traffic generator active from a known start time,
 * and each described in the ground-truth manifest with the rule that should catch it (`rule`) and
 * rules that may reasonably fire as well (`also`).
 */
import type { RuleId } from '../alerts/types.js';
import { type TrafficContext, type TrafficGenerator, viaGateway } from './benign.js';
import { blackhole, gatewayLegOnly, passthroughHttp, passthroughTls, type SimRecord } from './record.js';
import { forkRng, type Rng } from './rng.js';
import { externalIp, MINUTE, type Pod, principalOf, WORKLOADS, type WorkloadSpec } from './topology.js';

export const ATTACK_NAMES = [
  'forbidden',
  'bypass',
  'upload-spike',
  'new-host',
  'beaconing',
  'subdomain-spray',
  'gateway-silence',
  'blocked-probing',
  'impersonation',
] as const;

export type AttackName = (typeof ATTACK_NAMES)[number];

export interface ManifestAttack {
  name: AttackName;
  rule: RuleId;
  also: RuleId[];
  start: string;
  end: string;
  source: { namespace: string; workload: string; principal: string | null; ip: string | null };
  /** The external host (or `ip:port` when no host name is visible); null for gateway silence. */
  destination: string | null;
  description: string;
}

interface AttackSpec {
  rule: RuleId;
  also: RuleId[];
  duration: number;
  source: WorkloadSpec;
  destination: string | null;
  description: string;
  /** Emits this minute's records (`minute` is in the attack's window). */
  minute(a: AttackRun, minute: number, out: SimRecord[]): void;
}

interface AttackRun {
  ctx: TrafficContext;
  rng: Rng;
  start: number;
  caller(time: number): Pod | undefined;
  /** One pod of the source, chosen at the attack's start and kept (a single compromised pod). */
  pinned(): Pod | undefined;
}

const SPRAY_DOMAIN = 'dns-exfil-lab.com';
const BEACON_HOST = 'cdn-sync.telemetry-updates.net';
const OUTSIDER_IP = '10.244.9.77';

/** `count` events spread over the minute at random offsets. */
function times(a: AttackRun, minute: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(minute + Math.floor(a.rng.next() * MINUTE));
  return out.sort((x, y) => x - y);
}

const SPECS: Record<AttackName, AttackSpec> = {
  forbidden: {
    rule: 'forbidden-destination',
    also: ['new-destination'],
    duration: 10 * MINUTE,
    source: WORKLOADS.appA,
    destination: 'mongo1.composedb.com',
    description: "App A reaches app B's database mongo1.composedb.com through the egress gateway.",
    minute(a, minute, out) {
      for (const t of times(a, minute, 2)) {
        const pod = a.caller(t);
        if (pod)
          out.push(
            ...viaGateway(
              a.ctx,
              a.rng,
              t,
              pod,
              'mongo1.composedb.com',
              a.rng.int(900, 2500),
              a.rng.int(20_000, 90_000),
              a.rng.int(40, 400),
            ),
          );
      }
    },
  },
  bypass: {
    rule: 'gateway-bypass',
    // Its uploads (about 600 kB in 10 minutes) stand out in the source's total upload.
    also: ['forbidden-destination', 'new-destination', 'volume-spike'],
    duration: 10 * MINUTE,
    source: WORKLOADS.appA,
    destination: 'paste.drop-files.net',
    description:
      "App A's sidecar sends straight out through PassthroughCluster (TLS to raw IPs, HTTP to paste.drop-files.net), skipping the egress gateway.",
    minute(a, minute, out) {
      for (const t of times(a, minute, 2)) {
        const pod = a.caller(t);
        if (!pod) continue;
        if (a.rng.chance(0.5)) {
          out.push(
            passthroughTls(a.rng, t, pod, externalIp('paste.drop-files.net'), 443, {
              bytesUp: a.rng.int(4000, 60_000),
              bytesDown: a.rng.int(2000, 6000),
              duration: a.rng.int(80, 600),
            }),
          );
        } else {
          out.push(
            passthroughHttp(a.rng, t, pod, 'paste.drop-files.net', {
              method: 'POST',
              path: '/api/paste',
              code: 200,
              bytesUp: a.rng.int(4000, 60_000),
              bytesDown: a.rng.int(300, 900),
              duration: a.rng.int(80, 600),
              userAgent: 'python-requests/2.31.0',
            }),
          );
        }
      }
    },
  },
  'upload-spike': {
    rule: 'volume-spike',
    also: [],
    duration: 10 * MINUTE,
    source: WORKLOADS.appA,
    destination: 'api.ibm.com',
    description:
      'App A uploads tens of megabytes to api.ibm.com, an allowed host it normally sends a few kilobytes to.',
    minute(a, minute, out) {
      for (const t of times(a, minute, 3)) {
        const pod = a.caller(t);
        const up = a.rng.int(20_000_000, 45_000_000);
        if (pod)
          out.push(
            ...viaGateway(a.ctx, a.rng, t, pod, 'api.ibm.com', up, a.rng.int(2000, 9000), up / 50_000),
          );
      }
    },
  },
  'new-host': {
    rule: 'new-destination',
    also: [],
    duration: 10 * MINUTE,
    source: WORKLOADS.appA,
    destination: 'transfer.eu-de.ibm.com',
    description:
      'App A starts using transfer.eu-de.ibm.com (HTTP, TLS originated at the gateway): allowed by the *.ibm.com wildcard, but never seen before.',
    minute(a, minute, out) {
      for (const t of times(a, minute, 1)) {
        const pod = a.caller(t);
        if (pod)
          out.push(
            ...viaGateway(
              a.ctx,
              a.rng,
              t,
              pod,
              'transfer.eu-de.ibm.com',
              a.rng.int(2000, 200_000),
              a.rng.int(2000, 9000),
              a.rng.int(100, 900),
            ),
          );
      }
    },
  },
  beaconing: {
    rule: 'beaconing',
    also: ['new-destination', 'forbidden-destination'],
    duration: 4 * 60 * MINUTE,
    source: WORKLOADS.frontend,
    destination: BEACON_HOST,
    description: `A frontend pod calls ${BEACON_HOST} every 5 minutes (±20 s) with the same request and response size.`,
    minute(a, minute, out) {
      // One beacon per 5-minute slot, jittered around the slot's start.
      const offset = minute - a.start;
      if (offset % (5 * MINUTE) !== 0) return;
      const t = minute + 20_000 + a.rng.int(-20_000, 20_000);
      const pod = a.pinned();
      if (pod && t >= pod.from && t < pod.to)
        out.push(...viaGateway(a.ctx, a.rng, t, pod, BEACON_HOST, 1184, 3412, a.rng.int(90, 140)));
    },
  },
  'subdomain-spray': {
    rule: 'high-cardinality-domain',
    // Its hundreds of requests also stand out in the source's total requests.
    also: ['forbidden-destination', 'new-destination', 'volume-spike'],
    duration: 10 * MINUTE,
    source: WORKLOADS.appA,
    destination: SPRAY_DOMAIN,
    description: `App A resolves and connects to hundreds of random-looking subdomains of ${SPRAY_DOMAIN} (DNS-tunnel style) through the gateway.`,
    minute(a, minute, out) {
      for (const t of times(a, minute, 30)) {
        const pod = a.caller(t);
        const label = a.rng.hex(6) + a.rng.alnum(18);
        if (pod)
          out.push(
            ...viaGateway(
              a.ctx,
              a.rng,
              t,
              pod,
              `${label}.t.${SPRAY_DOMAIN}`,
              a.rng.int(300, 700),
              a.rng.int(100, 400),
              a.rng.int(20, 90),
            ),
          );
      }
    },
  },
  'gateway-silence': {
    rule: 'gateway-silence',
    also: [],
    duration: 30 * MINUTE,
    source: WORKLOADS.gateway,
    destination: null,
    description:
      "The egress gateway's access logs stop for 30 minutes while sidecars keep sending traffic to it.",
    minute() {
      // No records of its own: TrafficContext.gatewayLogsAt() drops the gateway legs in the window.
    },
  },
  'blocked-probing': {
    rule: 'blocked-egress',
    also: [],
    duration: 5 * MINUTE,
    source: WORKLOADS.appB,
    destination: '45.33.32.156:22',
    description:
      'An app B pod probes external addresses and ports; REGISTRY_ONLY drops each attempt in BlackHoleCluster.',
    minute(a, minute, out) {
      const pod = a.pinned();
      if (!pod) return;
      for (const t of times(a, minute, 12)) {
        const ip = a.rng.chance(0.5)
          ? '45.33.32.156'
          : `${a.rng.pick([45, 91, 185, 203])}.${a.rng.int(1, 254)}.${a.rng.int(1, 254)}.${a.rng.int(1, 254)}`;
        out.push(blackhole(a.rng, t, pod, ip, a.rng.pick([22, 443, 3389, 6379, 8080])));
      }
    },
  },
  impersonation: {
    rule: 'unaccounted-gateway-leg',
    also: ['forbidden-destination'],
    duration: 10 * MINUTE,
    source: { ...WORKLOADS.appB, workload: 'unknown' },
    destination: 'mongo1.composedb.com',
    description: `A client outside the mesh (${OUTSIDER_IP}, no sidecar, no peer certificate) connects to the egress gateway to reach mongo1.composedb.com, posing as app B.`,
    minute(a, minute, out) {
      for (const t of times(a, minute, 1)) {
        const gateway = a.ctx.cluster.podAt(a.ctx.cluster.gateway, t, a.rng);
        if (gateway && a.ctx.gatewayLogsAt(t)) {
          out.push(
            gatewayLegOnly(a.rng, t, gateway, OUTSIDER_IP, '-', {
              host: 'mongo1.composedb.com',
              port: 27017,
              bytesUp: a.rng.int(1000, 3000),
              bytesDown: a.rng.int(40_000, 400_000),
              duration: a.rng.int(50, 500),
            }),
          );
        }
      }
    },
  },
};

export function attackDuration(name: AttackName): number {
  return SPECS[name].duration;
}

export interface ScheduledAttack {
  name: AttackName;
  start: number;
}

export class AttackGenerator implements TrafficGenerator {
  private readonly run: AttackRun;
  private readonly spec: AttackSpec;
  private readonly end: number;

  constructor(ctx: TrafficContext, attack: ScheduledAttack) {
    this.spec = SPECS[attack.name];
    const rng = forkRng(ctx.seed, `attack/${attack.name}`);
    const source = this.spec.source;
    this.end = attack.start + this.spec.duration;
    const pinned = pinnedPod(ctx, attack);
    this.run = {
      ctx,
      rng,
      start: attack.start,
      caller: (time) => ctx.cluster.podAt(source, time, rng),
      pinned: () => pinned,
    };
  }

  generate(from: number, to: number, out: SimRecord[]): void {
    const first = Math.max(from, this.run.start);
    const last = Math.min(to, this.end);
    for (let minute = first; minute < last; minute += MINUTE) this.spec.minute(this.run, minute, out);
  }
}

function pinnedPod(ctx: TrafficContext, attack: ScheduledAttack): Pod | undefined {
  return ctx.cluster.podAt(
    SPECS[attack.name].source,
    attack.start,
    forkRng(ctx.seed, `attack/${attack.name}/pod`),
  );
}

const PINNED: ReadonlySet<AttackName> = new Set(['beaconing', 'blocked-probing']);

export function manifestEntry(ctx: TrafficContext, attack: ScheduledAttack): ManifestAttack {
  const spec = SPECS[attack.name];
  const pod = PINNED.has(attack.name) ? pinnedPod(ctx, attack) : undefined;
  const outsider = attack.name === 'impersonation';
  return {
    name: attack.name,
    rule: spec.rule,
    also: spec.also,
    start: new Date(attack.start).toISOString(),
    end: new Date(attack.start + spec.duration).toISOString(),
    source: {
      namespace: outsider ? 'unknown' : spec.source.namespace,
      workload: outsider ? 'unknown' : spec.source.workload,
      principal: outsider ? null : principalOf(spec.source),
      ip: outsider ? OUTSIDER_IP : (pod?.ip ?? null),
    },
    destination: spec.destination,
    description: spec.description,
  };
}
