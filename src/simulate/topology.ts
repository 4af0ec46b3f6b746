/**
 * The simulated mesh: workloads, their pods over time (rolling restarts, a nightly CronJob pod) and
 * the pod IPs they hold. Freed IPs are handed to the next new pod first-in first-out, so an IP that
 * belonged to app A's pod in the morning belongs to app B's pod later: attribution by pod IP must
 * follow time, and the simulator makes sure it has to.
 */
import { forkRng, hash32, type Rng } from './rng.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export interface WorkloadSpec {
  namespace: string;
  workload: string;
  serviceAccount: string;
  replicas: number;
  kind: 'deployment' | 'cronjob' | 'gateway';
  labels: Record<string, string>;
}

export interface Pod {
  name: string;
  uid: string;
  ip: string;
  node: string;
  spec: WorkloadSpec;
  principal: string;
  /** Alive in [from, to). */
  from: number;
  to: number;
  dockerId: string;
}

const TRUST_DOMAIN = 'cluster.local';
/** The gateway's pod ports behind its Service ports 443 and 80 (the Helm chart's defaults). */
export const GATEWAY_TLS_PORT = 8443;
export const GATEWAY_HTTP_PORT = 8080;
export const NODES = ['node-1', 'node-2', 'node-3'] as const;
export const PROXY_IMAGE = 'docker.io/istio/proxyv2:1.24.2';

function app(namespace: string, workload: string, replicas: number): WorkloadSpec {
  return {
    namespace,
    workload,
    serviceAccount: workload,
    replicas,
    kind: 'deployment',
    labels: {
      app: workload,
      'security.istio.io/tlsMode': 'istio',
      'service.istio.io/canonical-name': workload,
      'service.istio.io/canonical-revision': 'v1',
    },
  };
}

export const WORKLOADS = {
  appA: app('app-a', 'app-a', 3),
  appB: app('app-b', 'app-b', 2),
  frontend: app('web', 'frontend', 2),
  metricsAgent: app('monitoring', 'metrics-agent', 3),
  backup: { ...app('batch', 'nightly-backup', 1), kind: 'cronjob' } as WorkloadSpec,
  gateway: {
    namespace: 'istio-system',
    workload: 'istio-egressgateway',
    serviceAccount: 'istio-egressgateway-service-account',
    replicas: 2,
    kind: 'gateway',
    labels: {
      app: 'istio-egressgateway',
      istio: 'egressgateway',
      'service.istio.io/canonical-name': 'istio-egressgateway',
    },
  } as WorkloadSpec,
} as const;

export type WorkloadName = keyof typeof WORKLOADS;

/**
 * Where the egress gateway is installed: `istio-system` (istio-egressgateway, the default profile)
 * or `istio-egress` (a gateway named `egressgateway` in its own namespace, as istio.io's
 * wildcard-host egress example installs it).
 */
export type GatewayInstall = 'istio-system' | 'istio-egress';

export const EGRESS_NAMESPACE_GATEWAY: WorkloadSpec = {
  namespace: 'istio-egress',
  workload: 'egressgateway',
  serviceAccount: 'egressgateway',
  replicas: 2,
  kind: 'gateway',
  labels: {
    app: 'egressgateway',
    istio: 'egressgateway',
    'service.istio.io/canonical-name': 'egressgateway',
  },
};

export function gatewaySpec(install: GatewayInstall): WorkloadSpec {
  return install === 'istio-egress' ? EGRESS_NAMESPACE_GATEWAY : WORKLOADS.gateway;
}

/** The gateway Service's host, as the sidecar's cluster names it (Service name = workload name). */
export function gatewayFqdn(gateway: Pod): string {
  return `${gateway.spec.workload}.${gateway.spec.namespace}.svc.cluster.local`;
}

export function principalOf(spec: WorkloadSpec): string {
  return `spiffe://${TRUST_DOMAIN}/ns/${spec.namespace}/sa/${spec.serviceAccount}`;
}

/** A stable public IP for an external host (same host, same IP, across runs and seeds). */
export function externalIp(host: string): string {
  const h = hash32(host);
  const firsts = [104, 151, 162, 172, 185, 198];
  return `${firsts[h % firsts.length]}.${(h >>> 8) & 0xff}.${(h >>> 16) & 0xff}.${((h >>> 24) % 250) + 2}`;
}

class IpPool {
  private nextHost = 10;
  private readonly freed: string[] = [];

  take(): string {
    const reused = this.freed.shift();
    if (reused !== undefined) return reused;
    const n = this.nextHost++;
    return `10.244.${Math.floor(n / 250)}.${(n % 250) + 2}`;
  }

  release(ip: string): void {
    this.freed.push(ip);
  }
}

/** Every pod that lives during [start, end), in creation order, with restarts. */
export class Cluster {
  readonly pods: Pod[] = [];
  /** The egress gateway's workload (where it is installed). */
  readonly gateway: WorkloadSpec;
  private readonly bySpec = new Map<WorkloadSpec, Pod[][]>();

  constructor(seed: string | number, start: number, end: number, gateway: GatewayInstall = 'istio-system') {
    const rng = forkRng(seed, 'topology');
    const pool = new IpPool();
    type Change = { time: number; spec: WorkloadSpec; slot: number; end: number };
    const changes: Change[] = [];
    this.gateway = gatewaySpec(gateway);
    const specs = Object.values(WORKLOADS).map((w) => (w === WORKLOADS.gateway ? this.gateway : w));
    for (const spec of specs) {
      const slots: Pod[][] = [];
      this.bySpec.set(spec, slots);
      for (let slot = 0; slot < spec.replicas; slot++) {
        slots.push([]);
        if (spec.kind === 'cronjob') {
          // One pod per night, 01:58 to about 02:45 (the job's upload runs from 02:00).
          for (let day = Math.floor(start / DAY) * DAY; day < end; day += DAY) {
            const from = day + 118 * MINUTE;
            if (from + HOUR > start && from < end)
              changes.push({ time: from, spec, slot, end: from + 47 * MINUTE });
          }
        } else {
          changes.push({ time: start - HOUR, spec, slot, end: Number.POSITIVE_INFINITY });
        }
      }
    }
    // Application workloads get one rolling restart a day, one pod after another, a minute apart;
    // app A restarts first so that app B's new pods pick up app A's freed IPs.
    for (let day = Math.floor(start / DAY) * DAY; day < end; day += DAY) {
      const at = day + 9 * HOUR + rng.int(0, 90) * MINUTE;
      let t = at;
      for (const spec of [WORKLOADS.appA, WORKLOADS.appB, WORKLOADS.frontend]) {
        for (let slot = 0; slot < spec.replicas; slot++) {
          if (t > start && t < end) changes.push({ time: t, spec, slot, end: Number.POSITIVE_INFINITY });
          t += MINUTE;
        }
      }
    }
    changes.sort((x, y) => x.time - y.time);
    const finishedJobs: Pod[] = [];
    for (const change of changes) {
      // A finished job pod's IP goes back to the pool when it ends, not before.
      for (let i = finishedJobs.length - 1; i >= 0; i--) {
        const job = finishedJobs[i] as Pod;
        if (job.to <= change.time) {
          pool.release(job.ip);
          finishedJobs.splice(i, 1);
        }
      }
      const slots = this.bySpec.get(change.spec) as Pod[][];
      const history = slots[change.slot] as Pod[];
      const previous = history[history.length - 1];
      const pod = this.newPod(rng, change.spec, pool.take(), change.time, change.end);
      if (previous !== undefined && previous.to > change.time) {
        previous.to = change.time;
        pool.release(previous.ip);
      }
      history.push(pod);
      this.pods.push(pod);
      if (change.spec.kind === 'cronjob') finishedJobs.push(pod);
    }
  }

  private newPod(rng: Rng, spec: WorkloadSpec, ip: string, from: number, to: number): Pod {
    // Deployments: <name>-<replicaset hash>-<suffix>; CronJob pods: <name>-<scheduled minute>-<suffix>.
    const middle = spec.kind === 'cronjob' ? `${Math.floor(from / MINUTE)}` : rng.alnum(9);
    const name = `${spec.workload}-${middle}-${rng.alnum(5)}`;
    return {
      name,
      uid: rng.uuid(),
      ip,
      node: rng.pick(NODES),
      spec,
      principal: principalOf(spec),
      from,
      to,
      dockerId: `${rng.hex(32)}${rng.hex(32)}`,
    };
  }

  /** A pod of the workload alive at `time` (uniform over its replicas), or undefined. */
  podAt(spec: WorkloadSpec, time: number, rng: Rng): Pod | undefined {
    const slots = this.bySpec.get(spec);
    if (slots === undefined) return undefined;
    const history = rng.pick(slots);
    for (let i = history.length - 1; i >= 0; i--) {
      const pod = history[i] as Pod;
      if (pod.from <= time && time < pod.to) return pod;
    }
    return undefined;
  }

  /** The pods of a workload alive at `time`. */
  podsAt(spec: WorkloadSpec, time: number): Pod[] {
    const slots = this.bySpec.get(spec) ?? [];
    const out: Pod[] = [];
    for (const history of slots)
      for (const pod of history) if (pod.from <= time && time < pod.to) out.push(pod);
    return out;
  }
}
