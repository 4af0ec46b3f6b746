/**
 * Checks between parse and detect that a line's claims are ones its writer could make. The access
 * line's text is the workload's to choose when the workload shares the stream (an app container
 * printing Envoy-looking lines to its stdout), so:
 *  - a line whose shipper metadata names a container must come from a proxy container
 *    (`istio-proxy` by default: sidecars, gateways, waypoints and ztunnel all use that name);
 *  - event time may not run ahead of a clock the writer does not control: the shipper's own
 *    timestamp of the record (same node, so same clock as the proxy), and the wall clock. One line
 *    dated 2099 would otherwise move the watermark there and freeze every window behind it.
 * A line that fails is dead-lettered with the reason (the DecodeSink's `malformed`), never analysed.
 */
import type { DecodeSink } from './decoder-types.js';
import type { AccessRecord, ShipperMeta } from './types.js';

export interface IngestGuardOptions {
  /**
   * Containers whose lines are access logs; a line from any other named container is
   * dead-lettered. Empty: no check. Lines without container metadata are not checked.
   */
  accessLogContainers?: readonly string[];
  /** How far (ms) a line's START_TIME may be ahead of the shipper's timestamp or the wall clock. */
  maxClockSkewMs?: number;
  /** The wall clock (tests pin it). */
  clock?: () => number;
}

export const DEFAULT_ACCESS_LOG_CONTAINERS: readonly string[] = ['istio-proxy'];
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface IngestGuardCounters {
  /** Lines from a container that is not a proxy. */
  wrongContainer: number;
  /** Lines dated ahead of the shipper's timestamp or the wall clock. */
  futureDated: number;
}

/** Wraps the pipeline's DecodeSink: `access` lines that pass go on, the others are dead-lettered. */
export class IngestGuard implements DecodeSink {
  readonly counters: IngestGuardCounters = { wrongContainer: 0, futureDated: 0 };
  /** The sink of the line being decoded. */
  inner: DecodeSink | null = null;
  /** The raw line being decoded (for the dead letter). */
  raw = '';
  private readonly containers: ReadonlySet<string>;
  private readonly skewMs: number;
  private readonly clock: () => number;
  /**
   * Times no line can be ahead of by more than the skew: the newest shipper timestamp and wall-clock
   * reading seen. A line at or below them + skew needs no check, so the clock and the (lazily parsed)
   * shipper time are read about once per skew of event time, not per line.
   */
  private shipperSeen = Number.NEGATIVE_INFINITY;
  private wallSeen = Number.NEGATIVE_INFINITY;

  constructor(options: IngestGuardOptions = {}) {
    this.containers = new Set(options.accessLogContainers ?? DEFAULT_ACCESS_LOG_CONTAINERS);
    this.skewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    this.clock = options.clock ?? Date.now;
  }

  access(record: AccessRecord, meta: ShipperMeta): void {
    const sink = this.inner as DecodeSink;
    const why = this.check(record, meta);
    if (why === null) sink.access(record, meta);
    else sink.malformed(why, this.raw);
  }

  skipped(reason: string): void {
    (this.inner as DecodeSink).skipped(reason);
  }

  malformed(reason: string, raw: string): void {
    (this.inner as DecodeSink).malformed(reason, raw);
  }

  /** Null when the line may be analysed, else why not. */
  check(record: AccessRecord, meta: ShipperMeta): string | null {
    const container = meta.container;
    if (container !== null && this.containers.size > 0 && !this.containers.has(container)) {
      this.counters.wrongContainer++;
      return `access line from container "${clip(container)}" of pod ${clip(meta.namespace ?? '?')}/${clip(meta.pod ?? '?')}: only ${[...this.containers].join(', ')} write access logs (parse.accessLogContainers)`;
    }
    const t = record.startTime;
    if (Number.isNaN(t)) return null;
    if (t > this.shipperSeen + this.skewMs) {
      const shipped = meta.shippedAt;
      if (!Number.isNaN(shipped)) {
        if (t > shipped + this.skewMs) {
          this.counters.futureDated++;
          return `START_TIME ${iso(t)} is ${span(t - shipped)} ahead of the shipper's timestamp ${iso(shipped)} (more than parse.maxClockSkew)`;
        }
        if (shipped > this.shipperSeen) this.shipperSeen = shipped;
      }
    }
    if (t > this.wallSeen + this.skewMs) {
      const now = this.clock();
      this.wallSeen = now;
      if (t > now + this.skewMs) {
        this.counters.futureDated++;
        return `START_TIME ${iso(t)} is ${span(t - now)} ahead of the wall clock ${iso(now)} (more than parse.maxClockSkew)`;
      }
    }
    return null;
  }
}

/** `t` as ISO 8601, or as written when it is no valid time (reasons of dead letters). */
export function iso(t: number): string {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString();
}

/** A duration for a person: `40 s`, `12 min`, `5 h`, `89 days`. */
export function span(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} days`;
}

/** Metadata is the attacker's too: a reason stays short. */
function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
