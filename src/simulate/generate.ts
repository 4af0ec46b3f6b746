/**
 * `generateTraffic(options)`: the simulated mesh as access-log lines (rendered, wrapped in the
 * chosen shipper envelope) in shipper order, plus the ground-truth manifest of the attacks in it.
 * Generation runs in 10-minute windows; records are sorted by delivery time and a record is only
 * released once no later window can produce an earlier one, so memory stays bounded for long runs
 * and the order is exact in delivery time (start times are a few seconds out of order, as shipped).
 */
import { AmbientMesh, type Dataplane, renderAmbientLine } from './ambient.js';
import {
  AttackGenerator,
  type AttackName,
  attackDuration,
  type ManifestAttack,
  manifestEntry,
  type ScheduledAttack,
} from './attacks.js';
import { benignGenerators, type TrafficContext, type TrafficGenerator } from './benign.js';
import { type EnvelopeName, wrapLine } from './envelope.js';
import type { HopSni, SimRecord } from './record.js';
import { type LogFormat, renderLine } from './render.js';
import { Cluster, DAY, type GatewayInstall, HOUR, MINUTE } from './topology.js';

export interface SimulateOptions {
  /** Epoch ms of the first minute (rounded down to the minute). */
  start: number;
  durationMs: number;
  seed: string | number;
  format: LogFormat;
  envelope: EnvelopeName;
  /** Peak interactive requests per minute across the mesh (the diurnal curve scales it down at night). */
  rate: number;
  attacks: readonly AttackName[];
  /** When the first attack starts; by default in the second half of the run, after the learning time. */
  attackStart?: number;
  /** Time between attack starts; by default 60 minutes, less when the run is short. */
  attackSpacing?: number;
  /** Where the egress gateway is installed (default `istio-system`, istio-egressgateway). */
  gateway?: GatewayInstall;
  /**
   * The SNI the gateway logs for plain TCP through it: `host` (default; the DestinationRule for the
   * gateway sets `sni:` to the host) or `istio` (not set: Istio's own hop SNI, no host).
   */
  tcpHopSni?: HopSni;
  /**
   * The gateway forwards TLS by SNI through an Envoy internal listener (istio.io blog 2023/egress-sni):
   * each TLS connection through it is logged as the sidecar's leg, the gateway's outer and inner leg.
   */
  sniForwarding?: boolean;
  /** Sidecars everywhere (default), ambient mode everywhere, or mixed (simulate/ambient.ts). */
  dataplane?: Dataplane;
}

export const DEFAULT_START = Date.parse('2025-03-03T00:00:00.000Z');

export const DEFAULT_OPTIONS: SimulateOptions = {
  start: DEFAULT_START,
  durationMs: DAY,
  seed: 1,
  format: 'json',
  envelope: 'none',
  rate: 60,
  attacks: [],
};

export interface Manifest {
  generator: 'egress-sentinel simulate';
  seed: string | number;
  start: string;
  end: string;
  format: LogFormat;
  envelope: EnvelopeName;
  rate: number;
  /** Present for an ambient or mixed mesh. */
  dataplane?: Dataplane;
  attacks: ManifestAttack[];
}

export interface SimulatedTraffic extends Iterable<string> {
  readonly manifest: Manifest;
  /** The same traffic as records (before rendering), for tests that want the fields. */
  records(): Iterable<SimRecord>;
  /** Lines with a Kafka message key (the reporting pod, so one pod's lines keep their order). */
  messages(): Iterable<{ key: string; value: string }>;
}

const WINDOW = 10 * MINUTE;

export function scheduleAttacks(options: SimulateOptions): ScheduledAttack[] {
  const start = Math.floor(options.start / MINUTE) * MINUTE;
  const n = options.attacks.length;
  if (n === 0) return [];
  const firstDefault =
    start + Math.max(Math.floor((options.durationMs * 0.5) / HOUR) * HOUR, HOUR) + 7 * MINUTE;
  const first = Math.floor((options.attackStart ?? firstDefault) / MINUTE) * MINUTE;
  const room = start + options.durationMs - first;
  const spacing =
    options.attackSpacing ?? Math.min(HOUR, Math.max(MINUTE, Math.floor(room / (n + 1) / MINUTE) * MINUTE));
  // Long attacks (beaconing) go first so that they fit in the run.
  const ordered = [...new Set(options.attacks)].sort((x, y) => attackDuration(y) - attackDuration(x) || 0);
  return ordered.map((name, i) => ({ name, start: first + i * spacing }));
}

export function generateTraffic(partial: Partial<SimulateOptions> = {}): SimulatedTraffic {
  const options: SimulateOptions = { ...DEFAULT_OPTIONS, ...partial };
  const start = Math.floor(options.start / MINUTE) * MINUTE;
  const end = start + options.durationMs;
  const scheduled = scheduleAttacks(options);
  const silences = scheduled
    .filter((a) => a.name === 'gateway-silence')
    .map((a) => [a.start, a.start + attackDuration('gateway-silence')] as const);
  const ctx: TrafficContext = {
    cluster: new Cluster(options.seed, start, end, options.gateway),
    seed: options.seed,
    rate: options.rate,
    gatewayLogsAt: (time) => !silences.some(([from, to]) => time >= from && time < to),
    tcpHopSni: options.tcpHopSni ?? 'host',
    sniForwarding: options.sniForwarding ?? false,
  };
  const ambient =
    options.dataplane === undefined || options.dataplane === 'sidecar'
      ? null
      : new AmbientMesh(options.dataplane, options.seed, start, end);
  const manifest: Manifest = {
    generator: 'egress-sentinel simulate',
    seed: options.seed,
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    format: options.format,
    envelope: options.envelope,
    rate: options.rate,
    attacks: scheduled.map((a) => manifestEntry(ctx, a)).sort((x, y) => x.start.localeCompare(y.start)),
  };
  if (ambient !== null) {
    manifest.dataplane = ambient.dataplane;
    manifest.attacks = ambient.adjust(manifest.attacks);
  }
  const line = (r: SimRecord): string =>
    ambient === null
      ? wrapLine(renderLine(r, options.format), r, options.envelope)
      : renderAmbientLine(ambient.convert(r), options.format, options.envelope);

  function* records(): Generator<SimRecord> {
    // Fresh generators per iteration, so iterating twice gives the same lines.
    const run: TrafficContext = { ...ctx, cluster: new Cluster(options.seed, start, end, options.gateway) };
    const generators: TrafficGenerator[] = [
      ...benignGenerators(run),
      ...scheduled.map((a) => new AttackGenerator(run, a)),
    ];
    let pending: SimRecord[] = [];
    for (let from = start; from < end; from += WINDOW) {
      const to = Math.min(end, from + WINDOW);
      for (const g of generators) g.generate(from, to, pending);
      pending.sort(byDelivery);
      // Everything later windows make starts at or after `to`, so it is delivered after `to`.
      let cut = 0;
      while (cut < pending.length && (pending[cut] as SimRecord).emit < to) cut++;
      for (let i = 0; i < cut; i++) yield pending[i] as SimRecord;
      pending = pending.slice(cut);
    }
    yield* pending;
  }

  return {
    manifest,
    records,
    *messages() {
      for (const r of records()) yield { key: r.reporter.name, value: line(r) };
    },
    *[Symbol.iterator]() {
      for (const r of records()) yield line(r);
    },
  };
}

function byDelivery(a: SimRecord, b: SimRecord): number {
  return a.emit - b.emit || a.start - b.start;
}
