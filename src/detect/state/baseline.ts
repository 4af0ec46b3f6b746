/**
 * A compact rolling baseline for one key: per-minute counters folded into per-hour peaks, kept per
 * hour of day for the last few days (time-of-day awareness: a nightly batch is normal at night),
 * plus a short ring of recent active minutes for keys too young to have daily history.
 *
 * One ArrayBuffer per key: a Float64 head (counters, clocks, cached thresholds) and a Uint16 body of
 * log-encoded samples (0.07 % precision), about 1.1 KB in all. See bench/detect.ts for the measure.
 */
import { median, medianAbsoluteDeviation } from 'simple-statistics';

export const METRIC_NAMES = ['requests', 'connections', 'bytes up', 'bytes down'] as const;
export const METRICS = METRIC_NAMES.length;
export const REQUESTS = 0;
export const CONNECTIONS = 1;
export const BYTES_UP = 2;
export const BYTES_DOWN = 3;

/** Days of history kept per hour of day. */
export const DAYS = 3;
/** Recent active minutes kept. */
export const RECENT = 16;

// Float64 head layout.
const CUR = 0; // current minute counters [0..3]
const PEAK = 4; // current hour peak per-minute counters [4..7]
const MINUTE = 8; // absolute minute index of CUR
const HOUR = 9; // absolute hour index of PEAK
const FIRST_SEEN = 10;
const LAST_SEEN = 11;
/** Cached thresholds for the current minute [12..15], owned by volume-spike. */
export const THRESHOLD = 12;
const THRESHOLD_MINUTE = 16;
const FIRED_MINUTE = 17;
// Beacon track (owned by beaconing): ring base time, bursts recorded, last call time, known-regular flag.
const BEACON_BASE = 18;
const BEACON_COUNT = 19;
const BEACON_LAST = 20;
const BEACON_KNOWN = 21;
const HEAD = 22;

// Uint16 body layout.
const HOURLY = 0; // (hour * METRICS + metric) * DAYS + day
const RECENT_OFF = 24 * METRICS * DAYS;
const HOUR_FILL = RECENT_OFF + RECENT * METRICS; // per hour of day: samples written (wraps at 65535)
const RECENT_FILL = HOUR_FILL + 24;
/** Burst ring for beaconing: per burst, seconds since BEACON_BASE (hi, lo) and log-encoded size. */
const RING_OFF = RECENT_FILL + 1;
export const BEACON_RING = 32;
const BODY = RING_OFF + BEACON_RING * 3;

export const BASELINE_BYTES = HEAD * 8 + BODY * 2 + ((BODY * 2) % 8 === 0 ? 0 : 8 - ((BODY * 2) % 8));

const SCALE = 1000;
function encode(x: number): number {
  return Math.min(65535, Math.round(Math.log2(1 + x) * SCALE));
}
function decode(v: number): number {
  return 2 ** (v / SCALE) - 1;
}

export interface BaselineStats {
  median: number;
  mad: number;
  samples: number;
  /** Where the samples came from. */
  basis: 'hour-of-day' | 'all-hours' | 'recent-minutes';
}

export class Baseline {
  /**
   * A Float64 view of the buffer that holds this baseline, and the index of its head in it. A
   * restore puts many baselines in one buffer and they share one view: a typed-array view costs
   * about as much to create and collect as the rest of a restored baseline's import.
   */
  readonly f: Float64Array;
  readonly o: number;
  /** The Uint16 view of the body, made on first use (many restored baselines are never used). */
  private bodyView: Uint16Array | null = null;

  /**
   * A fresh baseline in its own buffer, or the one at `byteOffset` (a multiple of 8) of the buffer
   * `shared` views from the start.
   */
  constructor(shared?: Float64Array, byteOffset = 0) {
    if (shared === undefined) {
      this.f = new Float64Array(BASELINE_BYTES / 8);
      this.o = 0;
      const h = this.f;
      h[MINUTE] = -1;
      h[HOUR] = -1;
      h[FIRST_SEEN] = Number.NaN;
      h[THRESHOLD_MINUTE] = -1;
      h[FIRED_MINUTE] = -1;
      h[BEACON_BASE] = Number.NaN;
    } else {
      this.f = shared;
      this.o = byteOffset / 8;
    }
  }

  get body(): Uint16Array {
    if (this.bodyView === null)
      this.bodyView = new Uint16Array(this.f.buffer, this.f.byteOffset + (this.o + HEAD) * 8, BODY);
    return this.bodyView;
  }

  /** This baseline's BASELINE_BYTES (a view, not a copy). */
  get bytes(): Uint8Array {
    return new Uint8Array(this.f.buffer, this.f.byteOffset + this.o * 8, BASELINE_BYTES);
  }
  get firstSeen(): number {
    return this.f[this.o + FIRST_SEEN] as number;
  }
  get lastSeen(): number {
    return this.f[this.o + LAST_SEEN] as number;
  }
  get minute(): number {
    return this.f[this.o + MINUTE] as number;
  }
  current(metric: number): number {
    return this.f[this.o + CUR + metric] as number;
  }
  thresholdMinute(): number {
    return this.f[this.o + THRESHOLD_MINUTE] as number;
  }
  setThresholds(minute: number, values: readonly number[]): void {
    this.f[this.o + THRESHOLD_MINUTE] = minute;
    for (let m = 0; m < METRICS; m++) this.f[this.o + THRESHOLD + m] = values[m] ?? Number.POSITIVE_INFINITY;
  }
  threshold(metric: number): number {
    return this.f[this.o + THRESHOLD + metric] as number;
  }
  /** Whether a spike already fired for the current minute (one finding per key-minute). */
  firedThisMinute(): boolean {
    return this.f[this.o + FIRED_MINUTE] === this.f[this.o + MINUTE];
  }
  markFired(): void {
    this.f[this.o + FIRED_MINUTE] = this.f[this.o + MINUTE] as number;
  }

  /**
   * Adds one event at `time`. `tzOffsetMs` shifts the hour-of-day buckets to local time. Rolls the
   * minute and hour first so the closed periods land in history.
   */
  add(
    time: number,
    tzOffsetMs: number,
    requests: number,
    connections: number,
    bytesUp: number,
    bytesDown: number,
  ): void {
    const h = this.f;
    const o = this.o;
    if (Number.isNaN(h[o + FIRST_SEEN] as number)) h[o + FIRST_SEEN] = time;
    h[o + LAST_SEEN] = time;
    const minute = Math.floor((time + tzOffsetMs) / 60_000);
    if (minute !== h[o + MINUTE]) this.roll(minute);
    h[o + CUR] = (h[o + CUR] as number) + requests;
    h[o + CUR + 1] = (h[o + CUR + 1] as number) + connections;
    h[o + CUR + 2] = (h[o + CUR + 2] as number) + bytesUp;
    h[o + CUR + 3] = (h[o + CUR + 3] as number) + bytesDown;
  }

  private roll(minute: number): void {
    const h = this.f;
    const o = this.o;
    const b = this.body;
    const prev = h[o + MINUTE] as number;
    if (prev >= 0) {
      // Close the minute: it becomes a recent sample and feeds the hour's peak.
      const fill = b[RECENT_FILL] as number;
      const slot = fill % RECENT;
      for (let m = 0; m < METRICS; m++) {
        const v = h[o + CUR + m] as number;
        b[RECENT_OFF + slot * METRICS + m] = encode(v);
        if (v > (h[o + PEAK + m] as number)) h[o + PEAK + m] = v;
        h[o + CUR + m] = 0;
      }
      b[RECENT_FILL] = fill + 1 >= 65535 ? RECENT + (fill % RECENT) + 1 : fill + 1;
    }
    const hour = Math.floor(minute / 60);
    if (hour !== h[o + HOUR]) {
      const prevHour = h[o + HOUR] as number;
      if (prevHour >= 0) {
        const hod = prevHour % 24;
        const fill = b[HOUR_FILL + hod] as number;
        const day = fill % DAYS;
        for (let m = 0; m < METRICS; m++) {
          b[HOURLY + (hod * METRICS + m) * DAYS + day] = encode(h[o + PEAK + m] as number);
          h[o + PEAK + m] = 0;
        }
        b[HOUR_FILL + hod] = fill + 1 >= 65535 ? DAYS + (fill % DAYS) + 1 : fill + 1;
      }
      h[o + HOUR] = hour;
    }
    h[o + MINUTE] = minute;
  }

  /**
   * Records a call for beaconing: calls closer than `minGap` to the previous one extend its burst
   * (summing size); returns true when a new burst started.
   */
  beaconAdd(time: number, size: number, minGap: number): boolean {
    const h = this.f;
    const o = this.o;
    const b = this.body;
    const count = h[o + BEACON_COUNT] as number;
    if (count > 0 && time - (h[o + BEACON_LAST] as number) < minGap) {
      const slot = RING_OFF + ((count - 1) % BEACON_RING) * 3 + 2;
      b[slot] = encode(decode(b[slot] as number) + size);
      h[o + BEACON_LAST] = time;
      return false;
    }
    if (Number.isNaN(h[o + BEACON_BASE] as number)) h[o + BEACON_BASE] = time;
    const secs = Math.max(0, Math.round((time - (h[o + BEACON_BASE] as number)) / 1000));
    const slot = RING_OFF + (count % BEACON_RING) * 3;
    b[slot] = Math.floor(secs / 65536) & 0xffff;
    b[slot + 1] = secs & 0xffff;
    b[slot + 2] = encode(size);
    h[o + BEACON_COUNT] = count + 1;
    h[o + BEACON_LAST] = time;
    return true;
  }

  get beaconCount(): number {
    return this.f[this.o + BEACON_COUNT] as number;
  }
  get beaconKnown(): boolean {
    return this.f[this.o + BEACON_KNOWN] === 1;
  }
  set beaconKnown(known: boolean) {
    this.f[this.o + BEACON_KNOWN] = known ? 1 : 0;
  }
  get beaconBase(): number {
    return this.f[this.o + BEACON_BASE] as number;
  }

  /** The last `n` (at most BEACON_RING) bursts: start seconds since the ring base, and sizes. */
  beaconSeries(n: number): { times: number[]; sizes: number[] } {
    const times: number[] = [];
    const sizes: number[] = [];
    this.beaconSeriesInto(n, times, sizes);
    return { times, sizes };
  }

  /** As `beaconSeries`, into the caller's (reused) arrays. */
  beaconSeriesInto(n: number, times: number[], sizes: number[]): void {
    const count = this.f[this.o + BEACON_COUNT] as number;
    const k = Math.min(n, count, BEACON_RING);
    times.length = 0;
    sizes.length = 0;
    const b = this.body;
    for (let i = count - k; i < count; i++) {
      const slot = RING_OFF + (i % BEACON_RING) * 3;
      times.push((b[slot] as number) * 65536 + (b[slot + 1] as number));
      sizes.push(decode(b[slot + 2] as number));
    }
  }

  /** Number of per-hour samples stored for an hour of day (0..DAYS). */
  hourSamples(hourOfDay: number): number {
    return Math.min(DAYS, this.body[HOUR_FILL + hourOfDay] as number);
  }
  recentSamples(): number {
    return Math.min(RECENT, this.body[RECENT_FILL] as number);
  }

  /**
   * Robust statistics of a metric's per-minute peak. Time-of-day first: of this hour of day and its
   * two neighbours (a batch job drifts), the slot with the highest median that has at least
   * `minSamples` days; else all hours together; else recent active minutes; null with no history.
   */
  stats(metric: number, hourOfDay: number, minSamples: number): BaselineStats | null {
    let best: BaselineStats | null = null;
    for (const hod of [(hourOfDay + 23) % 24, hourOfDay, (hourOfDay + 1) % 24]) {
      const slot: number[] = [];
      this.collectHour(hod, metric, slot);
      if (slot.length < minSamples) continue;
      const s = summarise(slot, 'hour-of-day');
      if (best === null || s.median > best.median) best = s;
    }
    if (best !== null) return best;
    const all: number[] = [];
    for (let hod = 0; hod < 24; hod++) this.collectHour(hod, metric, all);
    if (all.length >= minSamples) return summarise(all, 'all-hours');
    const recent: number[] = [];
    const n = this.recentSamples();
    const b = this.body;
    for (let s = 0; s < n; s++) recent.push(decode(b[RECENT_OFF + s * METRICS + metric] as number));
    if (recent.length >= minSamples) return summarise(recent, 'recent-minutes');
    return null;
  }

  private collectHour(hod: number, metric: number, out: number[]): void {
    const n = this.hourSamples(hod);
    const b = this.body;
    for (let d = 0; d < n; d++) out.push(decode(b[HOURLY + (hod * METRICS + metric) * DAYS + d] as number));
  }
}

function summarise(values: number[], basis: BaselineStats['basis']): BaselineStats {
  return { median: median(values), mad: medianAbsoluteDeviation(values), samples: values.length, basis };
}
