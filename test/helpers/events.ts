/** Builds EgressEvents for detector tests, and a small harness that runs them through detection. */
import { AlertStage } from '../../src/alerts/stage.js';
import type { Alert } from '../../src/alerts/types.js';
import { buildDetection } from '../../src/detect/build.js';
import { type DetectionConfig, DetectionConfigSchema } from '../../src/detect/config.js';
import type { DetectionEngine } from '../../src/detect/engine.js';
import type { Finding } from '../../src/detect/types.js';
import type { Destination, EgressEvent, SourceIdentity } from '../../src/identity/types.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import type { PolicyEvaluator } from '../../src/policy/types.js';

export const T0 = Date.parse('2025-03-03T00:00:00Z');
export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export function source(ns: string, workload = ns, extra: Partial<SourceIdentity> = {}): SourceIdentity {
  return {
    principal: null,
    namespace: ns,
    workload,
    pod: `${workload}-7d9f-abcde`,
    ip: '10.0.0.10',
    attribution: 'metadata',
    key: `${ns}/${workload}`,
    ...extra,
  };
}

function registrable(host: string): string | null {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return null;
  const parts = host.split('.');
  return parts.length >= 2 ? parts.slice(-2).join('.') : null;
}

export function destination(host: string, extra: Partial<Destination> = {}): Destination {
  return {
    host,
    registeredDomain: registrable(host),
    ip: '203.0.113.10',
    port: 443,
    external: true,
    ...extra,
  };
}

export interface EventInit extends Partial<Omit<EgressEvent, 'source' | 'destination'>> {
  source?: SourceIdentity;
  destination?: Destination;
  host?: string;
}

let seq = 0;
export function egressEvent(init: EventInit = {}): EgressEvent {
  const { host, ...rest } = init;
  seq++;
  return {
    time: T0,
    reporter: 'sidecar',
    protocol: 'tls',
    path: 'sidecar-to-gateway',
    cluster: 'outbound|443|egress|istio-egressgateway.istio-system.svc.cluster.local',
    bytesUp: 800,
    bytesDown: 5000,
    durationMs: 120,
    responseCode: 0,
    responseFlags: null,
    requestId: null,
    method: null,
    httpPath: null,
    source: source('app-a'),
    destination: destination(host ?? 'www.ibm.com'),
    origin: `test:${seq}`,
    ...rest,
  };
}

/** Detection with every detector, config overrides applied; alerts collected. */
export class Harness {
  readonly engine: DetectionEngine;
  readonly stage: AlertStage;
  readonly findings: Finding[] = [];
  readonly alerts: Alert[] = [];

  constructor(config: Record<string, unknown> = {}, evaluators: PolicyEvaluator[] = []) {
    const cfg: DetectionConfig = DetectionConfigSchema.parse({ learningPeriod: '1h', ...config });
    this.stage = new AlertStage({
      realertMs: cfg.realert,
      severity: cfg.severity,
      exceptions: cfg.exceptions,
    });
    this.engine = buildDetection(cfg, new PolicySet(evaluators), (f) => {
      this.findings.push(f);
      this.stage.accept(f, this.alerts);
    });
  }

  feed(events: Iterable<EgressEvent>, batch = 500): this {
    let n = 0;
    for (const e of events) {
      this.engine.observe(e);
      if (++n % batch === 0) {
        this.engine.advance();
        this.stage.advance(this.engine.watermark, this.alerts);
      }
    }
    this.engine.advance();
    return this;
  }

  finish(): this {
    this.engine.flush();
    this.stage.flush(this.alerts);
    return this;
  }

  rules(): string[] {
    return [...new Set(this.findings.map((f) => f.ruleId))].sort();
  }

  of(rule: string): Finding[] {
    return this.findings.filter((f) => f.ruleId === rule);
  }
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Benign traffic: app-a calls www.ibm.com with a diurnal load (busy by day, quiet at night) for
 * `days` days, Poisson-like arrivals, varied sizes; a nightly batch to backup.ibm.com at 02:00; a
 * metrics agent every 30 s to metrics.datadoghq.com; pods restarting (new pod names, reused IPs).
 */
export function* benignTraffic(days: number, seed = 1, start = T0): Generator<EgressEvent> {
  const r = rng(seed);
  const events: EgressEvent[] = [];
  for (let day = 0; day < days; day++) {
    for (let minute = 0; minute < 1440; minute++) {
      const t = start + day * DAY + minute * MIN;
      const hour = minute / 60;
      const load = 2 + 18 * Math.max(0, Math.sin(((hour - 6) / 24) * 2 * Math.PI));
      const n = Math.floor(load * (0.7 + 0.6 * r()));
      const podGen = Math.floor((day * 1440 + minute) / 600); // a restart every 10 hours
      const src = source('app-a', 'app-a', { pod: `app-a-${podGen}`, ip: `10.0.0.${10 + (podGen % 3)}` });
      for (let i = 0; i < n; i++) {
        events.push(
          egressEvent({
            time: t + Math.floor(r() * MIN),
            source: src,
            host: 'www.ibm.com',
            bytesUp: 500 + Math.floor(r() * 2000),
            bytesDown: 2000 + Math.floor(r() * 20000),
          }),
        );
      }
      if (minute >= 120 && minute < 150) {
        for (let i = 0; i < 40; i++) {
          events.push(
            egressEvent({
              time: t + i * 1400,
              source: src,
              host: 'backup.ibm.com',
              bytesUp: 2_000_000 + Math.floor(r() * 200_000),
              bytesDown: 1000,
            }),
          );
        }
      }
      for (const off of [0, 30_000]) {
        events.push(
          egressEvent({
            time: t + off + Math.floor(r() * 300),
            source: source('monitoring', 'metrics-agent', { pod: `metrics-agent-${podGen}` }),
            host: 'metrics.datadoghq.com',
            bytesUp: 1200 + Math.floor(r() * 40),
            bytesDown: 300,
          }),
        );
      }
    }
    events.sort((a, b) => a.time - b.time);
    for (const e of events) {
      yield e;
      yield gatewayLeg(e);
    }
    events.length = 0;
  }
}

/** The egress gateway's leg for a sidecar leg: same request, logged by the gateway with the peer principal. */
export function gatewayLeg(e: EgressEvent, delayMs = 2): EgressEvent {
  const ns = e.source.namespace ?? 'default';
  const sa = e.source.workload ?? 'default';
  const principal = `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
  return {
    ...e,
    time: e.time + delayMs,
    reporter: 'egress-gateway',
    path: 'gateway-to-external',
    cluster: `outbound|${e.destination.port}||${e.destination.host}`,
    source: {
      principal,
      namespace: ns,
      workload: null,
      pod: null,
      ip: e.source.ip,
      attribution: 'principal',
      key: principal,
    },
    destination: { ...e.destination },
  };
}

export interface BeaconShape {
  /** Sleep between check-ins, ms. */
  periodMs: number;
  /** Jitter as a fraction of the period. */
  jitter: number;
  /**
   * 'symmetric': each gap is period x (1 +- jitter), uniform (Sliver, Mythic); 'cobalt': each gap is
   * period x (1 - jitter x U) (Cobalt Strike's sleep jitter only shortens).
   */
  style: 'symmetric' | 'cobalt';
}

/**
 * A C2 implant's check-ins from `start`: jittered gaps, request and response sizes varying by +-15 %
 * (padding, cookies), and on every tenth check-in from the fourth a task whose response is ten
 * times larger (the operator ran a command).
 */
export function beaconCalls(
  seed: number,
  start: number,
  count: number,
  shape: BeaconShape,
): { time: number; bytesUp: number; bytesDown: number }[] {
  const r = rng(seed);
  const out: { time: number; bytesUp: number; bytesDown: number }[] = [];
  let t = start;
  for (let i = 0; i < count; i++) {
    const task = i % 10 === 3;
    out.push({
      time: Math.round(t),
      bytesUp: Math.round(420 * (1 + (r() * 2 - 1) * 0.15)),
      bytesDown: Math.round((task ? 40_000 : 3400) * (1 + (r() * 2 - 1) * 0.15)),
    });
    const j = shape.style === 'symmetric' ? (r() * 2 - 1) * shape.jitter : -r() * shape.jitter;
    t += shape.periodMs * (1 + j);
  }
  return out;
}

/**
 * A person browsing a site: sessions of a few page views (each a handful of calls within a second)
 * separated by think times of seconds to minutes (log-normal), sessions separated by breaks of
 * 5 to 60 minutes; page sizes vary widely.
 */
export function browsingCalls(
  seed: number,
  start: number,
  durationMs: number,
): { time: number; bytesUp: number; bytesDown: number }[] {
  const r = rng(seed);
  const out: { time: number; bytesUp: number; bytesDown: number }[] = [];
  let t = start;
  while (t < start + durationMs) {
    const pages = 1 + Math.floor(r() * 8);
    for (let p = 0; p < pages; p++) {
      const calls = 1 + Math.floor(r() * 6);
      for (let c = 0; c < calls; c++)
        out.push({
          time: Math.round(t + c * 150),
          bytesUp: 400 + Math.floor(r() * 1500),
          bytesDown: Math.round(Math.exp(7 + r() * 5)),
        });
      // Think time: median 25 s, from a few seconds to a few minutes.
      t += 25_000 * Math.exp((r() + r() + r() - 1.5) * 1.8);
    }
    t += 5 * MIN + r() * 55 * MIN;
  }
  return out.filter((c) => c.time < start + durationMs);
}

/** `a` (in time order) with the events of `b` slotted in by time: benign traffic with injected events. */
export function* mergeByTime(a: Iterable<EgressEvent>, b: EgressEvent[]): Generator<EgressEvent> {
  b.sort((x, y) => x.time - y.time);
  let i = 0;
  for (const e of a) {
    while (i < b.length && (b[i] as EgressEvent).time <= e.time) yield b[i++] as EgressEvent;
    yield e;
  }
  while (i < b.length) yield b[i++] as EgressEvent;
}
