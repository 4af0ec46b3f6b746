/**
 * A compact rolling baseline for one key (an (identity, host), (identity, registrable domain) or an
 * identity's total over all its external destinations): the sums of requests and bytes up over
 * sliding windows of 1 minute, 10 minutes and 1 hour, their peaks kept per 2-hour bucket of the day
 * for the last few days (a nightly batch is normal at night), plus the beaconing burst ring.
 *
 * Layout (BASELINE_BYTES, 8-byte aligned), read through views shared by every baseline of a buffer:
 * - Float64: beacon clocks (ms).
 * - Int32 / Uint32: minute, bucket and threshold-hour indexes; first/last seen and quiet-until
 *   (seconds); beacon count, flag and last burst start.
 * - Float32: current minute counters; the sums of the closed minutes inside the 10-minute and
 *   the 1-hour window, and of the current 10-minute block.
 * - Uint16: 32 bursts (gap to the previous burst, log-encoded size at 0.07 %).
 * - Uint8 (log-encoded, 6 steps per doubling: +-6 %): the current bucket's peaks, the last 10
 *   minutes, the last 6 ten-minute blocks, cached thresholds, bucket x window x metric x day
 *   peaks; fills. A window's sum is then within a few percent, far finer than any factor.
 *
 * The 1-hour window is the current 10-minute block plus the 5 before it (50 to 60 minutes). Its
 * history is the peak of that same sum in each bucket, so a window is always compared with what
 * the same window usually reaches. Only buckets in which the key was active get a sample.
 *
 * Baselines created by traffic live in slots of shared buffers (`BaselinePool`): one ArrayBuffer
 * and four typed-array views per baseline cost more than the baseline's own bytes.
 */
import { median, medianAbsoluteDeviation } from 'simple-statistics';

/** Metrics with history: requests (an HTTP request or a TCP/TLS connection: one log line) and bytes up. */
export const METRIC_NAMES = ['requests', 'bytes up'] as const;
export const METRICS = METRIC_NAMES.length;
export const REQUESTS = 0;
export const BYTES_UP = 1;
/** Window lengths in minutes. */
export const WINDOW_MINUTES = [1, 10, 60] as const;
export const WINDOWS = WINDOW_MINUTES.length;
/** Days of history kept per bucket. */
export const DAYS = 3;
/** Hours per bucket of the day. */
export const BUCKET_HOURS = 2;
export const BUCKETS = 24 / BUCKET_HOURS;
const BLOCK_MINUTES = 10;
const BLOCKS = 6;

// Float64 fields (index from the slot's start, in 8-byte units).
const BEACON_BASE = 0; // ms of the first burst
const BEACON_LAST = 1; // ms of the last call
const F64_FIELDS = 2;
// Int32 fields (4-byte units).
const MINUTE = F64_FIELDS * 2; // absolute minute of CUR, -1 before the first event
const BUCKET = MINUTE + 1; // absolute bucket of the peaks, -1 before the first event
const THRESHOLD_HOUR = MINUTE + 2; // absolute hour for which THRESHOLD was computed, -1 for none
// Uint32 fields (4-byte units; times in seconds, 0 for none).
const FIRST_SEEN = MINUTE + 3;
const LAST_SEEN = MINUTE + 4;
const QUIET_UNTIL = MINUTE + 5; // [metric] volume-spike: no new finding on this key and metric before
const BEACON_COUNT = QUIET_UNTIL + METRICS;
const BEACON_KNOWN = BEACON_COUNT + 1;
const BEACON_LAST_START = BEACON_COUNT + 2; // seconds from BEACON_BASE to the last burst's start
// Float32 fields (4-byte units).
const CUR = BEACON_LAST_START + 1; // current minute [requests, bytes up]
// Closed minutes in windows 1 and 2 at PREV + w * METRICS + m: right after CUR.
const PREV = CUR;
const BLOCK_SUM = PREV + WINDOWS * METRICS; // closed minutes of the current 10-minute block
const F32_END = BLOCK_SUM + METRICS;
// Uint16 fields (2-byte units).
const BEACON_OFF = F32_END * 2; // per burst: gap code (see gapCode), size
export const BEACON_RING = 32;
const U16_END = BEACON_OFF + BEACON_RING * 2;
// Uint8 fields (bytes), log-encoded.
const PEAK = U16_END * 2; // [window * METRICS + metric]
const RING = PEAK + WINDOWS * METRICS; // [minute % 10 * METRICS + m]
const BLOCK_RING = RING + BLOCK_MINUTES * METRICS; // [block % 6 * METRICS + m]
const THRESHOLD = BLOCK_RING + BLOCKS * METRICS; // [window * METRICS + metric], 255 for none
const HIST = THRESHOLD + WINDOWS * METRICS; // [((bucket * WINDOWS + w) * METRICS + m) * DAYS + day]
const FILL = HIST + BUCKETS * WINDOWS * METRICS * DAYS; // per bucket: samples written (wraps)
const U8_END = FILL + BUCKETS;

export const BASELINE_BYTES = Math.ceil(U8_END / 8) * 8;
/** Size of a baseline in the layout before windows (state written by earlier versions). */
export const LEGACY_BASELINE_BYTES = 1128;

const SCALE16 = 1000;
function encode16(x: number): number {
  return Math.min(65535, Math.round(Math.log2(1 + x) * SCALE16));
}
function decode16(v: number): number {
  return 2 ** (v / SCALE16) - 1;
}
/** A burst's gap in seconds: exact below 32768 s (9 h), else in minutes (to 22 days). */
function gapCode(seconds: number): number {
  return seconds < 32768 ? seconds : 32768 + Math.min(32767, Math.round(seconds / 60));
}
function gapSeconds(code: number): number {
  return code < 32768 ? code : (code - 32768) * 60;
}
const SCALE8 = 6;
const NO_THRESHOLD = 255;
function encode8(x: number): number {
  return Math.min(255, Math.round(Math.log2(1 + x) * SCALE8));
}
function decode8(v: number): number {
  return 2 ** (v / SCALE8) - 1;
}

/** Typed views over one buffer, shared by the baselines that live in it. */
export class BaselineChunk {
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly f32: Float32Array;
  readonly u16: Uint16Array;
  readonly u8: Uint8Array;
  constructor(
    readonly buffer: ArrayBufferLike,
    readonly pooled = false,
  ) {
    const n = Math.floor(buffer.byteLength / 8) * 8;
    this.f64 = new Float64Array(buffer, 0, n / 8);
    this.i32 = new Int32Array(buffer, 0, n / 4);
    this.u32 = new Uint32Array(buffer, 0, n / 4);
    this.f32 = new Float32Array(buffer, 0, n / 4);
    this.u16 = new Uint16Array(buffer, 0, n / 2);
    this.u8 = new Uint8Array(buffer, 0, n);
  }
}

export interface BaselineStats {
  median: number;
  mad: number;
  samples: number;
  /** Where the samples came from. */
  basis: 'hour-of-day' | 'all-hours';
}

export class Baseline {
  /** Index of this baseline's first 8 bytes in `c.f64`. */
  private readonly o: number;
  /** Minute its table last saw it (KeyTable: a baseline is its own table entry). */
  touched = 0;

  /** A baseline at `byteOffset` (a multiple of 8) of `chunk`; `init` writes an empty one there. */
  constructor(
    readonly c: BaselineChunk,
    byteOffset: number,
    init = false,
  ) {
    this.o = byteOffset / 8;
    if (init) {
      c.u8.fill(0, byteOffset, byteOffset + BASELINE_BYTES);
      const i32 = c.i32;
      const o4 = this.o * 2;
      i32[o4 + MINUTE] = -1;
      i32[o4 + BUCKET] = -1;
      i32[o4 + THRESHOLD_HOUR] = -1;
      c.f64[this.o + BEACON_BASE] = Number.NaN;
    }
  }

  /** The table entry's value: itself. */
  get value(): Baseline {
    return this;
  }

  /** A fresh baseline in its own buffer (tests, tools); traffic uses `BaselinePool`. */
  static standalone(): Baseline {
    return new Baseline(new BaselineChunk(new ArrayBuffer(BASELINE_BYTES)), 0, true);
  }

  /** Byte offset in the chunk. */
  get byteOffset(): number {
    return this.o * 8;
  }
  /** This baseline's BASELINE_BYTES (a view, not a copy). */
  get bytes(): Uint8Array {
    return new Uint8Array(this.c.buffer, this.o * 8, BASELINE_BYTES);
  }
  /** First event (ms, to the second), NaN before any. */
  get firstSeen(): number {
    const s = this.c.u32[this.o * 2 + FIRST_SEEN] as number;
    return s === 0 ? Number.NaN : s * 1000;
  }
  /** Last event (ms, to the second), NaN before any. */
  get lastSeen(): number {
    const s = this.c.u32[this.o * 2 + LAST_SEEN] as number;
    return s === 0 ? Number.NaN : s * 1000;
  }
  get minute(): number {
    return this.c.i32[this.o * 2 + MINUTE] as number;
  }

  /** The sum of a metric over a window ending with the current minute (current minute included). */
  windowSum(window: number, metric: number): number {
    const cur = this.c.f32[this.o * 2 + CUR + metric] as number;
    return window === 0 ? cur : cur + (this.c.f32[this.o * 2 + PREV + window * METRICS + metric] as number);
  }
  /** Minutes the window covers now (the 1-hour window is 50 to 60 minutes). */
  windowSpan(window: number): number {
    if (window < 2) return WINDOW_MINUTES[window] as number;
    return (
      (BLOCKS - 1) * BLOCK_MINUTES + (((this.minute % BLOCK_MINUTES) + BLOCK_MINUTES) % BLOCK_MINUTES) + 1
    );
  }

  thresholdHour(): number {
    return this.c.i32[this.o * 2 + THRESHOLD_HOUR] as number;
  }
  /** Caches the thresholds (log-encoded: +-6 %, far finer than any factor); Infinity for none. */
  setThresholds(hour: number, values: readonly number[]): void {
    this.c.i32[this.o * 2 + THRESHOLD_HOUR] = hour;
    const u8 = this.c.u8;
    const at = this.o * 8 + THRESHOLD;
    for (let i = 0; i < WINDOWS * METRICS; i++) {
      const v = values[i] ?? Number.POSITIVE_INFINITY;
      u8[at + i] = v === Number.POSITIVE_INFINITY ? NO_THRESHOLD : Math.min(NO_THRESHOLD - 1, encode8(v));
    }
  }
  threshold(window: number, metric: number): number {
    const code = this.c.u8[this.o * 8 + THRESHOLD + window * METRICS + metric] as number;
    return code === NO_THRESHOLD ? Number.POSITIVE_INFINITY : decode8(code);
  }
  /** Whether `observed` is above the cached threshold (compared in the log domain: no decode). */
  exceeds(window: number, metric: number, observed: number): boolean {
    const code = this.c.u8[this.o * 8 + THRESHOLD + window * METRICS + metric] as number;
    return code !== NO_THRESHOLD && Math.log2(1 + observed) * SCALE8 > code;
  }
  /** Event time (ms, to the second) before which volume-spike raises nothing for the metric. */
  quietUntil(metric: number): number {
    return (this.c.u32[this.o * 2 + QUIET_UNTIL + metric] as number) * 1000;
  }
  setQuietUntil(metric: number, time: number): void {
    this.c.u32[this.o * 2 + QUIET_UNTIL + metric] = Math.ceil(time / 1000);
  }

  /**
   * Adds one event at `time`. `tzOffsetMs` shifts the buckets to local time. Rolls the minute (and
   * the blocks and the bucket) first so closed periods land in history.
   */
  add(time: number, tzOffsetMs: number, requests: number, bytesUp: number): void {
    const u32 = this.c.u32;
    const o = this.o;
    const o4 = o * 2;
    const seconds = Math.floor(time / 1000);
    if (u32[o4 + FIRST_SEEN] === 0) u32[o4 + FIRST_SEEN] = seconds;
    u32[o4 + LAST_SEEN] = seconds;
    const minute = Math.floor((time + tzOffsetMs) / 60_000);
    if (minute > (this.c.i32[o4 + MINUTE] as number)) this.roll(minute);
    const f32 = this.c.f32;
    f32[o4 + CUR] = (f32[o4 + CUR] as number) + requests;
    f32[o4 + CUR + 1] = (f32[o4 + CUR + 1] as number) + bytesUp;
  }

  private roll(minute: number): void {
    const f32 = this.c.f32;
    const i32 = this.c.i32;
    const u8 = this.c.u8;
    const o = this.o;
    const o4 = o * 2;
    const o1 = o * 8;
    const prev = i32[o4 + MINUTE] as number;
    if (prev >= 0) {
      // Close the minute: the window sums ending with it feed the bucket's peaks.
      for (let m = 0; m < METRICS; m++) {
        const v = f32[o4 + CUR + m] as number;
        for (let w = 0; w < WINDOWS; w++) {
          const code = encode8(w === 0 ? v : v + (f32[o4 + PREV + w * METRICS + m] as number));
          const p = o1 + PEAK + w * METRICS + m;
          if (code > (u8[p] as number)) u8[p] = code;
        }
        u8[o1 + RING + (prev % BLOCK_MINUTES) * METRICS + m] = encode8(v);
        f32[o4 + BLOCK_SUM + m] = (f32[o4 + BLOCK_SUM + m] as number) + v;
        f32[o4 + CUR + m] = 0;
      }
      // Minutes skipped since (no events) are zero.
      for (let k = prev + 1; k < minute && k <= prev + BLOCK_MINUTES; k++)
        for (let m = 0; m < METRICS; m++) u8[o1 + RING + (k % BLOCK_MINUTES) * METRICS + m] = 0;
      const prevBlock = Math.floor(prev / BLOCK_MINUTES);
      const block = Math.floor(minute / BLOCK_MINUTES);
      if (block !== prevBlock) {
        for (let m = 0; m < METRICS; m++) {
          u8[o1 + BLOCK_RING + (prevBlock % BLOCKS) * METRICS + m] = encode8(
            f32[o4 + BLOCK_SUM + m] as number,
          );
          f32[o4 + BLOCK_SUM + m] = 0;
        }
        for (let k = prevBlock + 1; k < block && k <= prevBlock + BLOCKS; k++)
          for (let m = 0; m < METRICS; m++) u8[o1 + BLOCK_RING + (k % BLOCKS) * METRICS + m] = 0;
      }
      // Closed minutes inside each window ending with the new minute.
      for (let m = 0; m < METRICS; m++) {
        let ten = 0;
        if (minute - prev < BLOCK_MINUTES)
          for (let k = minute - BLOCK_MINUTES + 1; k < minute; k++)
            ten += decode8(u8[o1 + RING + (k % BLOCK_MINUTES) * METRICS + m] as number);
        f32[o4 + PREV + METRICS + m] = ten;
        let hour = f32[o4 + BLOCK_SUM + m] as number;
        if (block - prevBlock < BLOCKS)
          for (let k = block - BLOCKS + 1; k < block; k++)
            hour += decode8(u8[o1 + BLOCK_RING + (k % BLOCKS) * METRICS + m] as number);
        f32[o4 + PREV + 2 * METRICS + m] = hour;
      }
    }
    const bucket = Math.floor(minute / (60 * BUCKET_HOURS));
    if (bucket !== i32[o4 + BUCKET]) {
      const prevBucket = i32[o4 + BUCKET] as number;
      if (prevBucket >= 0) {
        const b = prevBucket % BUCKETS;
        const fill = u8[o1 + FILL + b] as number;
        const day = fill % DAYS;
        for (let i = 0; i < WINDOWS * METRICS; i++) {
          u8[o1 + HIST + (b * WINDOWS * METRICS + i) * DAYS + day] = u8[o1 + PEAK + i] as number;
          u8[o1 + PEAK + i] = 0;
        }
        u8[o1 + FILL + b] = fill + 1 >= 255 ? DAYS + (fill % DAYS) + 1 : fill + 1;
      }
      i32[o4 + BUCKET] = bucket;
    }
    i32[o4 + MINUTE] = minute;
  }

  /** Bucket of the day for an hour of the day. */
  static bucketOf(hourOfDay: number): number {
    return Math.floor(hourOfDay / BUCKET_HOURS) % BUCKETS;
  }

  /** Number of days stored for a bucket (0..DAYS). */
  bucketSamples(bucket: number): number {
    return Math.min(DAYS, this.c.u8[this.o * 8 + FILL + bucket] as number);
  }

  /**
   * Robust statistics of a window's peak (per bucket and day). Time of day first: of the bucket
   * holding `hourOfDay` and the one either side (a batch job drifts), the one with the highest
   * median that has at least `minSamples` days; else all buckets together; null with no history.
   */
  stats(window: number, metric: number, hourOfDay: number, minSamples: number): BaselineStats | null {
    const own = Baseline.bucketOf(hourOfDay);
    let best: BaselineStats | null = null;
    for (const bucket of [(own + BUCKETS - 1) % BUCKETS, own, (own + 1) % BUCKETS]) {
      SLOT.length = 0;
      this.collect(bucket, window, metric, SLOT);
      if (SLOT.length < minSamples || SLOT.length === 0) continue;
      const s = summarise(SLOT, 'hour-of-day');
      if (best === null || s.median > best.median) best = s;
    }
    if (best !== null) return best;
    SLOT.length = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) this.collect(bucket, window, metric, SLOT);
    if (SLOT.length >= minSamples && SLOT.length > 0) return summarise(SLOT, 'all-hours');
    return null;
  }

  private collect(bucket: number, window: number, metric: number, out: number[]): void {
    const n = this.bucketSamples(bucket);
    const u8 = this.c.u8;
    const at = this.o * 8 + HIST + ((bucket * WINDOWS + window) * METRICS + metric) * DAYS;
    for (let d = 0; d < n; d++) out.push(decode8(u8[at + d] as number));
  }

  /**
   * Records a call for beaconing: calls closer than `minGap` to the previous one extend its burst
   * (summing size); returns true when a new burst started.
   */
  beaconAdd(time: number, size: number, minGap: number): boolean {
    const f = this.c.f64;
    const u32 = this.c.u32;
    const u16 = this.c.u16;
    const o = this.o;
    const o4 = o * 2;
    const ring = o * 4 + BEACON_OFF;
    const count = u32[o4 + BEACON_COUNT] as number;
    if (count > 0 && time - (f[o + BEACON_LAST] as number) < minGap) {
      const slot = ring + ((count - 1) % BEACON_RING) * 2 + 1;
      u16[slot] = encode16(decode16(u16[slot] as number) + size);
      f[o + BEACON_LAST] = time;
      return false;
    }
    if (Number.isNaN(f[o + BEACON_BASE] as number)) f[o + BEACON_BASE] = time;
    const secs = Math.max(0, Math.round((time - (f[o + BEACON_BASE] as number)) / 1000));
    const slot = ring + (count % BEACON_RING) * 2;
    u16[slot] = count === 0 ? 0 : gapCode(Math.max(0, secs - (u32[o4 + BEACON_LAST_START] as number)));
    u16[slot + 1] = encode16(size);
    u32[o4 + BEACON_LAST_START] = secs;
    u32[o4 + BEACON_COUNT] = count + 1;
    f[o + BEACON_LAST] = time;
    return true;
  }

  get beaconCount(): number {
    return this.c.u32[this.o * 2 + BEACON_COUNT] as number;
  }
  get beaconKnown(): boolean {
    return this.c.u32[this.o * 2 + BEACON_KNOWN] === 1;
  }
  set beaconKnown(known: boolean) {
    this.c.u32[this.o * 2 + BEACON_KNOWN] = known ? 1 : 0;
  }
  get beaconBase(): number {
    return this.c.f64[this.o + BEACON_BASE] as number;
  }

  /** The last `n` (at most BEACON_RING) bursts: start seconds since the ring base, and sizes. */
  beaconSeries(n: number): { times: number[]; sizes: number[] } {
    const times: number[] = [];
    const sizes: number[] = [];
    this.beaconSeriesInto(n, times, sizes);
    return { times, sizes };
  }

  /**
   * As `beaconSeries`, into the caller's (reused) arrays. Start times are rebuilt backwards from
   * the last burst's start with the stored gaps (exact to the second below 9 hours).
   */
  beaconSeriesInto(n: number, times: number[], sizes: number[]): void {
    const count = this.beaconCount;
    const k = Math.min(n, count, BEACON_RING);
    times.length = k;
    sizes.length = k;
    const u16 = this.c.u16;
    const ring = this.o * 4 + BEACON_OFF;
    let t = this.c.u32[this.o * 2 + BEACON_LAST_START] as number;
    for (let j = k - 1; j >= 0; j--) {
      const slot = ring + ((count - k + j) % BEACON_RING) * 2;
      times[j] = t;
      sizes[j] = decode16(u16[slot + 1] as number);
      t -= gapSeconds(u16[slot] as number);
    }
  }

  /**
   * Writes, at `byteOffset` of `chunk`, this layout's form of a baseline in the layout before
   * windows (LEGACY_BASELINE_BYTES at `from[start..]`): the beacon track and the clocks carry
   * over; the volume history does not (it held other sums), so the key learns volume again from
   * now (first seen = last seen).
   */
  static fromLegacy(from: Uint8Array, start: number, chunk: BaselineChunk, byteOffset: number): Baseline {
    const b = new Baseline(chunk, byteOffset, true);
    const view = new DataView(from.buffer, from.byteOffset + start, LEGACY_BASELINE_BYTES);
    const f64 = (i: number) => view.getFloat64(i * 8, true);
    const o = byteOffset / 8;
    const o4 = o * 2;
    const lastSeen = Math.floor(f64(11) / 1000);
    chunk.u32[o4 + FIRST_SEEN] = lastSeen;
    chunk.u32[o4 + LAST_SEEN] = lastSeen;
    chunk.f64[o + BEACON_BASE] = f64(18);
    chunk.f64[o + BEACON_LAST] = f64(20);
    const count = f64(19);
    chunk.u32[o4 + BEACON_COUNT] = count;
    chunk.u32[o4 + BEACON_KNOWN] = f64(21) === 1 ? 1 : 0;
    // Legacy body: Uint16 from byte 176; its ring (seconds hi, lo, size per burst) at index 377.
    const legacy = (slot: number, field: number) => view.getUint16(176 + (377 + slot * 3 + field) * 2, true);
    const ring = o * 4 + BEACON_OFF;
    let previous = -1;
    for (let i = Math.max(0, count - BEACON_RING); i < count; i++) {
      const slot = i % BEACON_RING;
      const secs = legacy(slot, 0) * 65536 + legacy(slot, 1);
      chunk.u16[ring + slot * 2] = previous < 0 ? 0 : gapCode(Math.max(0, secs - previous));
      chunk.u16[ring + slot * 2 + 1] = legacy(slot, 2);
      chunk.u32[o4 + BEACON_LAST_START] = secs;
      previous = secs;
    }
    return b;
  }
}

const SLOT: number[] = [];

function summarise(values: number[], basis: BaselineStats['basis']): BaselineStats {
  return { median: median(values), mad: medianAbsoluteDeviation(values), samples: values.length, basis };
}

/**
 * Slots for baselines in shared 256 KB buffers, with a free list: a key's slot is released when
 * its table drops it (eviction, deletion, replacement) and the next new key reuses it.
 */
export class BaselinePool {
  private chunk: BaselineChunk | null = null;
  private used = 0;
  private readonly freeChunks: BaselineChunk[] = [];
  private readonly freeOffsets: number[] = [];
  private static readonly PER_CHUNK = Math.floor((256 * 1024) / BASELINE_BYTES);

  alloc(): Baseline {
    const chunk = this.freeChunks.pop();
    if (chunk !== undefined) return new Baseline(chunk, this.freeOffsets.pop() as number, true);
    if (this.chunk === null || this.used === BaselinePool.PER_CHUNK) {
      this.chunk = new BaselineChunk(new ArrayBuffer(BaselinePool.PER_CHUNK * BASELINE_BYTES), true);
      this.used = 0;
    }
    return new Baseline(this.chunk, this.used++ * BASELINE_BYTES, true);
  }

  /** Gives a baseline's slot back (a baseline restored into its own buffer has none to give). */
  release(b: Baseline): void {
    if (!b.c.pooled) return;
    this.freeChunks.push(b.c);
    this.freeOffsets.push(b.byteOffset);
  }
}
