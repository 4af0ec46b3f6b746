/**
 * The everyday traffic of the simulated mesh: users hit the frontend, which calls app A, which calls
 * app B in the mesh; app A calls IBM APIs and app B its MongoDB, both through the egress gateway;
 * a metrics agent reports every 60 s around the clock; a nightly backup job uploads at 02:00.
 * Interactive load follows a day/night curve (low at 04:00 UTC, peak at 16:00 UTC).
 */
import {
  type HopSni,
  type HttpCall,
  httpViaGateway,
  inMeshHttp,
  type SimRecord,
  tcpViaGateway,
  tlsViaGateway,
  tlsViaSniForwarder,
} from './record.js';
import { forkRng, type Rng } from './rng.js';
import { type Cluster, DAY, HOUR, MINUTE, type Pod, WORKLOADS, type WorkloadSpec } from './topology.js';

export interface TrafficContext {
  cluster: Cluster;
  seed: string | number;
  /** Peak interactive requests per minute across the mesh. */
  rate: number;
  /** False while the gateway's logs are lost (gateway-silence attack). */
  gatewayLogsAt(time: number): boolean;
  /** The SNI of the sidecar-to-gateway hop for plain TCP (the DestinationRule sets it, or not). */
  tcpHopSni: HopSni;
  /** The gateway forwards TLS by SNI through an internal listener (three lines a connection). */
  sniForwarding?: boolean;
}

/** Produces the records whose start time is in [from, to); called on consecutive windows. */
export interface TrafficGenerator {
  generate(from: number, to: number, out: SimRecord[]): void;
}

export function diurnal(time: number): number {
  const hour = (time % DAY) / HOUR;
  return 0.15 + 0.85 * (0.5 - 0.5 * Math.cos((2 * Math.PI * (hour - 4)) / 24));
}

/** Subsets of the egress gateway DestinationRule, one per external service (deploy/istio). */
export const GATEWAY_SUBSETS: Record<string, string> = {
  'api.ibm.com': 'ibm',
  'iam.cloud.ibm.com': 'ibm',
  'www.ibm.com': 'ibm',
  'mongo1.composedb.com': 'composedb',
  'api.datadoghq.com': 'datadog',
  's3.eu-de.cloud-object-storage.appdomain.cloud': 'cos',
};

export function subsetFor(host: string): string {
  return GATEWAY_SUBSETS[host] ?? 'wildcard';
}

/**
 * How each external service is reached through the gateway (every egress shape the seed names):
 * TLS passthrough (the app's TLS, SNI = host) unless listed; plain TCP for the database; HTTP with
 * TLS originated at the gateway, the hop's SNI set to the host in the DestinationRule (`host`) or not
 * (`istio`).
 */
export type EgressShape =
  | { kind: 'tls' }
  | { kind: 'tcp'; port: number }
  | { kind: 'http'; hopSni: HopSni; method: string; path: string; userAgent: string };

export const EGRESS_SHAPES: Record<string, EgressShape> = {
  'mongo1.composedb.com': { kind: 'tcp', port: 27017 },
  'www.ibm.com': {
    kind: 'http',
    hopSni: 'host',
    method: 'GET',
    path: '/support/pages/',
    userAgent: 'app-a/2.3.1 (go-http-client)',
  },
  'api.datadoghq.com': {
    kind: 'http',
    hopSni: 'istio',
    method: 'POST',
    path: '/api/v2/series',
    userAgent: 'datadog-agent/7.52.0',
  },
  // The new-host attack's host: the HTTP shape attacked (TLS originated at the gateway, no hop SNI).
  'transfer.eu-de.ibm.com': {
    kind: 'http',
    hopSni: 'istio',
    method: 'PUT',
    path: '/v1/transfers/upload',
    userAgent: 'app-a/2.3.1 (go-http-client)',
  },
};

export function shapeFor(host: string): EgressShape {
  return EGRESS_SHAPES[host] ?? { kind: 'tls' };
}

/** Sends through the gateway from `caller` in `host`'s shape (or `shape`), honouring gateway silence. */
export function viaGateway(
  ctx: TrafficContext,
  rng: Rng,
  start: number,
  caller: Pod,
  host: string,
  up: number,
  down: number,
  duration: number,
  shape: EgressShape = shapeFor(host),
): SimRecord[] {
  const gateway = ctx.cluster.podAt(ctx.cluster.gateway, start, rng);
  if (gateway === undefined) return [];
  const logs = ctx.gatewayLogsAt(start);
  const subset = subsetFor(host);
  const t = {
    host,
    port: 443,
    bytesUp: Math.round(up),
    bytesDown: Math.round(down),
    duration: Math.round(duration),
  };
  if (shape.kind === 'tcp')
    return tcpViaGateway(
      rng,
      start,
      caller,
      gateway,
      subset,
      { ...t, port: shape.port },
      logs,
      ctx.tcpHopSni,
    );
  if (shape.kind === 'http') {
    const call: HttpCall = {
      method: shape.method,
      path: shape.path,
      code: 200,
      bytesUp: t.bytesUp,
      bytesDown: t.bytesDown,
      duration: t.duration,
      userAgent: shape.userAgent,
    };
    return httpViaGateway(rng, start, caller, gateway, subset, host, call, logs, shape.hopSni);
  }
  return ctx.sniForwarding === true
    ? tlsViaSniForwarder(rng, start, caller, gateway, subset, t, logs)
    : tlsViaGateway(rng, start, caller, gateway, subset, t, logs);
}

type Emit = (rng: Rng, start: number, caller: Pod, out: SimRecord[]) => void;

/** Poisson arrivals per minute, `share` of the mesh's peak rate, shaped by the diurnal curve. */
class InteractiveFlow implements TrafficGenerator {
  private readonly rng: Rng;

  constructor(
    private readonly ctx: TrafficContext,
    name: string,
    private readonly caller: WorkloadSpec,
    private readonly share: number,
    private readonly emit: Emit,
  ) {
    this.rng = forkRng(ctx.seed, `benign/${name}`);
  }

  generate(from: number, to: number, out: SimRecord[]): void {
    for (let minute = from; minute < to; minute += MINUTE) {
      const count = this.rng.poisson(this.ctx.rate * this.share * diurnal(minute));
      for (let i = 0; i < count; i++) {
        const start = minute + Math.floor(this.rng.next() * MINUTE);
        const caller = this.ctx.cluster.podAt(this.caller, start, this.rng);
        if (caller !== undefined) this.emit(this.rng, start, caller, out);
      }
    }
  }
}

/** Each metrics-agent pod reports once a minute at its own phase (not diurnal). */
class MetricsAgent implements TrafficGenerator {
  private readonly rng: Rng;

  constructor(private readonly ctx: TrafficContext) {
    this.rng = forkRng(ctx.seed, 'benign/metrics-agent');
  }

  generate(from: number, to: number, out: SimRecord[]): void {
    for (let minute = from; minute < to; minute += MINUTE) {
      for (const pod of this.ctx.cluster.podsAt(WORKLOADS.metricsAgent, minute)) {
        const phase = (Number.parseInt(pod.uid.slice(0, 4), 16) % 55) * 1000;
        const start = minute + phase + this.rng.int(0, 900);
        out.push(
          ...viaGateway(
            this.ctx,
            this.rng,
            start,
            pod,
            'api.datadoghq.com',
            this.rng.logNormal(14_000, 0.2),
            this.rng.int(180, 260),
            this.rng.logNormal(45, 0.3),
          ),
        );
      }
    }
  }
}

/** The nightly backup CronJob: from 02:00 for about 40 minutes, big uploads back to back. */
class NightlyBackup implements TrafficGenerator {
  private readonly rng: Rng;

  constructor(private readonly ctx: TrafficContext) {
    this.rng = forkRng(ctx.seed, 'benign/nightly-backup');
  }

  generate(from: number, to: number, out: SimRecord[]): void {
    for (let minute = from; minute < to; minute += MINUTE) {
      const ofDay = minute % DAY;
      if (ofDay < 2 * HOUR || ofDay >= 2 * HOUR + 40 * MINUTE) continue;
      const pod = this.ctx.cluster.podsAt(WORKLOADS.backup, minute)[0];
      if (pod === undefined) continue;
      for (let i = 0, n = this.rng.int(4, 6); i < n; i++) {
        const start = minute + Math.floor(this.rng.next() * MINUTE);
        const up = this.rng.logNormal(8_000_000, 0.3);
        out.push(
          ...viaGateway(
            this.ctx,
            this.rng,
            start,
            pod,
            's3.eu-de.cloud-object-storage.appdomain.cloud',
            up,
            this.rng.int(300, 900),
            up / 40_000,
          ),
        );
      }
    }
  }
}

const UA_FRONTEND =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const UA_APP_A = 'app-a/2.3.1 (go-http-client)';

export function benignGenerators(ctx: TrafficContext): TrafficGenerator[] {
  const { appA, appB, frontend } = WORKLOADS;
  return [
    new InteractiveFlow(ctx, 'frontend-app-a', frontend, 0.4, (rng, start, caller, out) => {
      const server = ctx.cluster.podAt(appA, start, rng);
      if (server === undefined) return;
      const method = rng.chance(0.8) ? 'GET' : 'POST';
      const path = rng.pick(['/api/v1/orders', '/api/v1/catalog', '/api/v1/profile', '/healthz']);
      out.push(
        ...inMeshHttp(rng, start, caller, server, 'app-a.app-a.svc.cluster.local', 8080, '10.96.12.34', {
          method,
          path: `${path}${method === 'GET' ? `?page=${rng.int(1, 9)}` : ''}`,
          code: rng.chance(0.985) ? 200 : 503,
          bytesUp: method === 'GET' ? 0 : rng.int(200, 4000),
          bytesDown: Math.round(rng.logNormal(3000, 0.6)),
          duration: Math.round(rng.logNormal(25, 0.5)),
          userAgent: UA_FRONTEND,
        }),
      );
    }),
    new InteractiveFlow(ctx, 'app-a-app-b', appA, 0.25, (rng, start, caller, out) => {
      const server = ctx.cluster.podAt(appB, start, rng);
      if (server === undefined) return;
      out.push(
        ...inMeshHttp(rng, start, caller, server, 'app-b.app-b.svc.cluster.local', 8080, '10.96.40.7', {
          method: 'GET',
          path: `/records/${rng.int(1000, 99999)}`,
          code: rng.chance(0.99) ? 200 : 404,
          bytesUp: 0,
          bytesDown: Math.round(rng.logNormal(1800, 0.5)),
          duration: Math.round(rng.logNormal(12, 0.4)),
          userAgent: UA_APP_A,
        }),
      );
    }),
    new InteractiveFlow(ctx, 'app-a-ibm', appA, 0.2, (rng, start, caller, out) => {
      const r = rng.next();
      const host = r < 0.6 ? 'api.ibm.com' : r < 0.9 ? 'iam.cloud.ibm.com' : 'www.ibm.com';
      out.push(
        ...viaGateway(
          ctx,
          rng,
          start,
          caller,
          host,
          rng.logNormal(2500, 0.5),
          rng.logNormal(9000, 0.7),
          rng.logNormal(180, 0.5),
        ),
      );
    }),
    new InteractiveFlow(ctx, 'app-b-mongo', appB, 0.15, (rng, start, caller, out) => {
      out.push(
        ...viaGateway(
          ctx,
          rng,
          start,
          caller,
          'mongo1.composedb.com',
          rng.logNormal(1500, 0.4),
          rng.logNormal(12000, 0.8),
          rng.logNormal(60, 0.6),
        ),
      );
    }),
    new MetricsAgent(ctx),
    new NightlyBackup(ctx),
  ];
}
