/**
 * Fast path for the most common raw input, a Fluent Bit record `{"time":…,"log":"…","kubernetes":{…}}`,
 * without JSON.parse of the whole record. A top-level scanner finds the spans of the keys we read
 * (`log`/`message`, `kubernetes`, `time`/`@timestamp`/`date`) and skips the rest. The payload
 * string is first offered to an InlineStringReader (the decoder's: a 1.9+ TEXT line is read in
 * place, validated and split by one regex, EnvoyTextParser.readJsonString); otherwise it is
 * validated by one regex pass and decoded only on demand (JSON.parse of that slice). The `kubernetes`
 * object of one pod is byte-identical on every line that pod writes, so its ShipperMeta is read
 * once (JSON.parse + the same readFluentBitMeta as the slow path) and cached by that exact text.
 *
 * Correctness first: the scan returns null ("not sure") on anything it does not fully understand
 * (escaped or duplicate keys, nested values other than `kubernetes`, a `resourceLogs` key, a
 * kubernetes block that is Filebeat's or Vector's, a non-string payload, odd time values, trailing
 * bytes), and the decoder then takes the slow path, whose result the fast one must equal
 * (test/parse/envelope/fluent-bit-scan.test.ts checks this on every fixture).
 */
import { newShipperMeta, type ShipperMeta } from '../types.js';
import { isFluentBitKubernetes, readFluentBitMeta } from './fluent-bit.js';
import { shipperTime } from './meta.js';
import { isObject } from './types.js';

/** The ShipperMeta fields a `kubernetes` block determines (all but shippedAt). */
interface PodMeta {
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly podIp: string | null;
  readonly container: string | null;
  readonly node: string | null;
  readonly workload: string | null;
  readonly istioLabel: string | null;
  readonly gatewayName: string | null;
}

interface PodEntry {
  readonly text: string;
  /** null: not a Fluent Bit block (Filebeat/Vector shapes), the slow path decides. */
  readonly meta: PodMeta | null;
}

/**
 * Reads a JSON string literal in place (a format parser over the still-escaped line): `read` gets
 * the record and the index of the opening quote and returns the index after the closing quote when
 * it read the whole string (which proves it valid JSON), else -1 (the scanner then validates it and
 * the caller decodes it). It may fill its own output either way; the caller decides what counts.
 */
export interface InlineStringReader {
  read(raw: string, quoteAt: number): number;
}

/** Samples every 16th char (pod_id and pod_ip always get samples); a collision only costs one more compare. */
function sampledHash(s: string, start: number, end: number): number {
  let h = end - start;
  for (let j = start; j < end; j += 16) h = (Math.imul(h, 31) + s.charCodeAt(j)) | 0;
  return h;
}

/** Bounded: a cluster has thousands of pods, not millions; clearing on overflow costs one re-read each. */
const MAX_PODS = 10000;

const Q = 34; // "
const OPEN = 123; // {
const CLOSE = 125; // }
const COMMA = 44;
const COLON = 58;

function skipWs(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) i++;
    else return i;
  }
}

/**
 * One JSON string from its opening quote, valid escapes only, no raw control characters (JSON.parse
 * rejects those). A sticky regex runs as native code: measured ~4x faster than a charCodeAt loop.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in strings.
const STRING = /"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"/y;

/**
 * End (exclusive) of the valid JSON string whose opening quote is at `i`, or -1. The sticky regex
 * first; V8's regex engine keeps a backtrack entry per escape, so a string of ~10^5+ escapes (a
 * hostile `log` of 1,000,000 `\u00e9`) overflows its stack with a RangeError: then the same rules
 * are checked by a loop, which needs no stack.
 */
function jsonStringEnd(s: string, i: number): number {
  STRING.lastIndex = i;
  try {
    return STRING.test(s) ? STRING.lastIndex : -1;
  } catch {
    return jsonStringEndLoop(s, i);
  }
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** jsonStringEnd without a regex (exported for tests). */
export function jsonStringEndLoop(s: string, i: number): number {
  if (s.charCodeAt(i) !== Q) return -1;
  const len = s.length;
  for (let j = i + 1; j < len; j++) {
    const c = s.charCodeAt(j);
    if (c === Q) return j + 1;
    if (c < 32) return -1;
    if (c !== 92) continue;
    const e = s.charCodeAt(++j);
    if (e === 117) {
      if (
        !(
          isHex(s.charCodeAt(j + 1)) &&
          isHex(s.charCodeAt(j + 2)) &&
          isHex(s.charCodeAt(j + 3)) &&
          isHex(s.charCodeAt(j + 4))
        )
      )
        return -1;
      j += 4;
    } else if (
      !(e === Q || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116)
    )
      return -1;
  }
  return -1;
}

/** Closing quote of a short string without escapes (a key), or -1; a loop beats a regex call on a few chars. */
function plainStringEnd(s: string, i: number): number {
  const len = s.length;
  for (; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c === Q) return i;
    if (c === 92 || c < 32) return -1;
  }
  return -1;
}

/** After this many lines whose `kubernetes` block was not the record's last value, stop guessing it is. */
const GUESS_PAUSE = 4096;

export class FluentBitScanner {
  /**
   * `kubernetes` blocks seen, by a cheap sampled hash of their text; a hit is confirmed by comparing
   * the whole text (slice + ===, a memcmp; startsWith at an offset measured 25x slower).
   */
  private readonly pods = new Map<number, PodEntry[]>();
  private podCount = 0;
  /** Lines left before guessing again that `kubernetes` is the last value (see kubernetesLast). */
  private guessPaused = 0;

  /** Misses of the pod cache (JSON.parse of a kubernetes block), for tests and diagnostics. */
  cacheMisses = 0;

  /**
   * Fills `m` and returns the inner line when `raw` is certainly a Fluent Bit record with a string
   * payload; returns null (and leaves `m` untouched) when the slow path must decide.
   */
  scan(raw: string, m: ShipperMeta): string | null {
    if (!this.open(raw, m)) return null;
    m.shippedAt = this.shippedAt(raw);
    return this.payloadText(raw);
  }

  /** Span of the record's own time value in the raw input, set by `open`; tStart -1 when none. */
  tStart = -1;
  tEnd = -1;

  /** The record's own time (ms) from the span `open` chose; NaN when it has none. */
  shippedAt(raw: string): number {
    return timeAt(raw, this.tStart, this.tEnd);
  }

  /** Set by `open`: the reader read the chosen payload (`log`, else `message`) in place. */
  payloadRead = false;

  /** Span of the payload string (with its quotes) in the raw input, set by `open`. */
  private pStart = 0;
  private pEnd = 0;

  /** A JSON payload decoded by `open` (it proved that string valid by decoding it), else null. */
  private decoded: string | null = null;

  /** The payload, decoded (JSON.parse of just that string, and only when it holds an escape). */
  payloadText(raw: string): string {
    if (this.decoded !== null) return this.decoded;
    const start = this.pStart;
    const end = this.pEnd;
    const bs = raw.indexOf('\\', start);
    return bs >= 0 && bs < end
      ? (JSON.parse(raw.slice(start, end)) as string)
      : raw.slice(start + 1, end - 1);
  }

  /**
   * Fills `m` but for `shippedAt` and returns true when `raw` is certainly a Fluent Bit record with
   * a string payload (then read it with payloadText unless payloadRead, and the record's time with
   * shippedAt, only when needed: most access lines carry their own START_TIME); false (and `m`
   * untouched) when the slow path must decide. A `reader` gets the first look at the payload string:
   * when it reads it in place (see InlineStringReader), `payloadRead` is true and the payload needs
   * no decoding nor validating.
   */
  open(raw: string, m: ShipperMeta, reader: InlineStringReader | null = null): boolean {
    const len = raw.length;
    if (this.guessPaused > 0) this.guessPaused--;
    let i = skipWs(raw, 0);
    if (raw.charCodeAt(i) !== OPEN) return false;
    i = skipWs(raw, i + 1);
    let logStart = -1;
    let logEnd = -1;
    let logRead = false;
    let msgRead = false;
    let msgStart = -1;
    let msgEnd = -1;
    // A JSON payload (starts with `{`) that was delimited but not yet validated (see quotedEnd).
    let logJson = false;
    let msgJson = false;
    let pod: PodMeta | null | undefined;
    // Time candidates in the slow path's `o.time ?? o['@timestamp'] ?? o.date` order: [start, end).
    let timeStart = -1;
    let timeEnd = -1;
    let tsStart = -1;
    let tsEnd = -1;
    let dateStart = -1;
    let dateEnd = -1;
    let timeEscaped = false;
    let tsEscaped = false;
    let dateEscaped = false;
    for (;;) {
      // Key: a plain string (an escaped key could spell "log"; the slow path handles those).
      if (raw.charCodeAt(i) !== Q) return false;
      const keyStart = i + 1;
      const keyEnd = plainStringEnd(raw, keyStart);
      if (keyEnd < 0) return false;
      const key = keyOf(raw, keyStart, keyEnd - keyStart);
      // Vector's flat keys or OTLP: the slow path decides.
      if (key === K_REFUSE) return false;
      i = skipWs(raw, keyEnd + 1);
      if (raw.charCodeAt(i) !== COLON) return false;
      i = skipWs(raw, i + 1);
      const vStart = i;
      const c = raw.charCodeAt(i);
      // A kubernetes value that is not an object: the slow path decides.
      if (key === K_KUBERNETES && c !== OPEN) return false;
      let vEnd: number;
      /** The string value held an escape (it took the regex). */
      let escaped = false;
      if (c === Q && (key === K_LOG || key === K_MESSAGE)) {
        // The reader fills one record: `message` only while no `log` (which wins) was seen; a later
        // `log` is read over it or leaves payloadRead false, and the caller parses it.
        vEnd = reader !== null && (key === K_LOG || logStart < 0) ? reader.read(raw, i) : -1;
        if (vEnd >= 0) {
          if (key === K_LOG) logRead = true;
          else msgRead = true;
        } else if (raw.charCodeAt(vStart + 1) === OPEN) {
          // A JSON access line the reader did not read is decoded anyway: find its closing quote
          // only, and let the decode below (JSON.parse of just this string) prove it valid.
          vEnd = quotedEnd(raw, i);
          if (vEnd < 0) return false;
          if (key === K_LOG) logJson = true;
          else msgJson = true;
        } else {
          // The sticky regex proves the string valid (what JSON.parse would accept) without decoding it.
          vEnd = jsonStringEnd(raw, i);
          if (vEnd < 0) return false;
        }
      } else if (c === Q) {
        // Other values (`stream`, `time`) are short and plain: a loop beats a regex call; escapes take the regex.
        const close = plainStringEnd(raw, i + 1);
        if (close >= 0) vEnd = close + 1;
        else {
          vEnd = jsonStringEnd(raw, i);
          if (vEnd < 0) return false;
          escaped = true;
        }
      } else if (c === OPEN) {
        if (key !== K_KUBERNETES || pod !== undefined) return false;
        // Usually the kubernetes filter's block closes the record: try that first (no scan at all).
        const last = this.guessPaused === 0 ? this.kubernetesLast(raw, vStart) : undefined;
        if (last !== undefined) {
          pod = last;
          break;
        }
        vEnd = objectEnd(raw, i);
        if (vEnd < 0) return false;
        pod = this.lookup(raw, vStart, vEnd);
        if (pod === undefined) pod = this.podMeta(raw.slice(vStart, vEnd), undefined);
      } else {
        vEnd = scalarEnd(raw, i);
        if (vEnd < 0) return false;
      }
      // A key of interest seen twice goes to the slow path (the last one wins there).
      switch (key) {
        case K_LOG:
          if (logStart >= 0 || c !== Q) return false;
          logStart = vStart;
          logEnd = vEnd;
          break;
        case K_MESSAGE:
          if (msgStart >= 0 || c !== Q) return false;
          msgStart = vStart;
          msgEnd = vEnd;
          break;
        case K_TIME:
          if (timeStart >= 0) return false;
          timeStart = vStart;
          timeEnd = vEnd;
          timeEscaped = escaped;
          break;
        case K_TIMESTAMP:
          if (tsStart >= 0) return false;
          tsStart = vStart;
          tsEnd = vEnd;
          tsEscaped = escaped;
          break;
        case K_DATE:
          if (dateStart >= 0) return false;
          dateStart = vStart;
          dateEnd = vEnd;
          dateEscaped = escaped;
          break;
      }
      i = skipWs(raw, vEnd);
      const sep = raw.charCodeAt(i);
      if (sep === COMMA) {
        i = skipWs(raw, i + 1);
        continue;
      }
      if (sep !== CLOSE) return false;
      i = skipWs(raw, i + 1);
      if (i !== len) return false;
      break;
    }
    if (pod === undefined || pod === null) return false;
    // `'log' in o ? o.log : o.message`
    let decodeJson = false;
    if (logStart >= 0) {
      // An unused `message` must still be a valid string, as the full parse would require.
      if (msgJson && !isJsonString(raw, msgStart)) return false;
      this.pStart = logStart;
      this.pEnd = logEnd;
      decodeJson = logJson;
    } else if (msgStart >= 0) {
      this.pStart = msgStart;
      this.pEnd = msgEnd;
      decodeJson = msgJson;
    } else return false;
    this.payloadRead = logStart >= 0 ? logRead : msgRead;
    // `o.time ?? o['@timestamp'] ?? o.date`: pick the span now, parse it only if asked (shippedAt).
    let tStart = timeStart;
    let tEnd = timeEnd;
    let tEscaped = timeEscaped;
    if (isNullTime(raw, tStart)) {
      tStart = tsStart;
      tEnd = tsEnd;
      tEscaped = tsEscaped;
      if (isNullTime(raw, tStart)) {
        tStart = dateStart;
        tEnd = dateEnd;
        tEscaped = dateEscaped;
      }
    }
    // timeAt reads the string without decoding it.
    if (tEscaped) return false;
    let decoded: string | null = null;
    if (decodeJson) {
      try {
        decoded = JSON.parse(raw.slice(this.pStart, this.pEnd)) as string;
      } catch {
        return false;
      }
    }
    this.decoded = decoded;
    this.tStart = tStart >= 0 && raw.charCodeAt(tStart) !== 110 ? tStart : -1;
    this.tEnd = tEnd;
    m.namespace = pod.namespace;
    m.pod = pod.pod;
    m.podIp = pod.podIp;
    m.container = pod.container;
    m.node = pod.node;
    m.workload = pod.workload;
    m.istioLabel = pod.istioLabel;
    m.gatewayName = pod.gatewayName;
    return true;
  }

  /**
   * Guesses that the object at `start` runs to the record's closing brace. A cached text is
   * byte-identical to one that parsed as a whole JSON object, so a hit proves the guess; a miss is
   * checked by JSON.parse. Returns undefined when the guess is wrong (and pauses guessing a while).
   */
  private kubernetesLast(raw: string, start: number): PodMeta | null | undefined {
    let e = raw.length - 1;
    while (e > start) {
      const c = raw.charCodeAt(e);
      if (c === 32 || c === 9 || c === 10 || c === 13) e--;
      else break;
    }
    if (raw.charCodeAt(e) !== CLOSE || raw.charCodeAt(e - 1) !== CLOSE) {
      this.guessPaused = GUESS_PAUSE;
      return undefined;
    }
    const hit = this.lookup(raw, start, e);
    if (hit !== undefined) return hit;
    const text = raw.slice(start, e);
    let k: unknown;
    try {
      k = JSON.parse(text);
    } catch {
      this.guessPaused = GUESS_PAUSE;
      return undefined;
    }
    return this.podMeta(text, k);
  }

  /** The metadata of one `kubernetes` block (parsed unless `parsed` is given), cached by its text. */
  private podMeta(text: string, parsed: unknown): PodMeta | null {
    if (parsed === undefined) {
      try {
        parsed = JSON.parse(text);
      } catch {
        return null;
      }
    }
    this.cacheMisses++;
    let meta: PodMeta | null = null;
    if (isObject(parsed) && isFluentBitKubernetes(parsed)) {
      const m = newShipperMeta();
      readFluentBitMeta(parsed, m);
      meta = m;
    }
    if (this.podCount >= MAX_PODS) {
      this.pods.clear();
      this.podCount = 0;
    }
    // A sliced string would keep the whole raw line alive: store a copy of its own.
    const h = sampledHash(text, 0, text.length);
    const entry: PodEntry = { text: ownCopy(text), meta };
    const bucket = this.pods.get(h);
    if (bucket === undefined) this.pods.set(h, [entry]);
    else bucket.push(entry);
    this.podCount++;
    return meta;
  }

  /** The cached metadata of the block `raw[start, end)`, or undefined when it was never seen. */
  private lookup(raw: string, start: number, end: number): PodMeta | null | undefined {
    const bucket = this.pods.get(sampledHash(raw, start, end));
    if (bucket === undefined) return undefined;
    const len = end - start;
    for (let b = 0; b < bucket.length; b++) {
      const entry = bucket[b] as PodEntry;
      if (entry.text.length === len && raw.slice(start, end) === entry.text) return entry.meta;
    }
    return undefined;
  }
}

/**
 * End (exclusive) of the string whose opening quote is at `i`: the first quote not escaped by an odd
 * run of backslashes, or -1. Delimits only; the caller must still prove the string valid.
 */
function quotedEnd(s: string, i: number): number {
  let q = s.indexOf('"', i + 1);
  while (q >= 0) {
    let b = q - 1;
    while (s.charCodeAt(b) === 92) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    q = s.indexOf('"', q + 1);
  }
  return -1;
}

function isJsonString(s: string, i: number): boolean {
  return jsonStringEnd(s, i) >= 0;
}

/** End (exclusive) of the object starting at `i`, skipping strings; -1 when unbalanced. */
function objectEnd(s: string, i: number): number {
  let depth = 0;
  const len = s.length;
  while (i < len) {
    const c = s.charCodeAt(i);
    if (c === Q) {
      i++;
      while (i < len) {
        const d = s.charCodeAt(i);
        if (d === Q) break;
        i += d === 92 ? 2 : 1; // backslash: skip the escaped char
      }
      if (i >= len) return -1;
    } else if (c === OPEN || c === 91) depth++;
    else if (c === CLOSE || c === 93) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/** End (exclusive) of a number / true / false / null at `i`, or -1 when it is none of those. */
function scalarEnd(s: string, i: number): number {
  let j = i;
  const len = s.length;
  while (j < len) {
    const c = s.charCodeAt(j);
    if (c === COMMA || c === CLOSE || c === 32 || c === 9 || c === 10 || c === 13) break;
    j++;
  }
  if (j === i) return -1;
  const text = s.slice(i, j);
  if (text === 'true' || text === 'false' || text === 'null') return j;
  return JSON_NUMBER.test(text) ? j : -1;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** True when the time value at `start` is absent or JSON null (so `??` moves on). */
function isNullTime(s: string, start: number): boolean {
  return start < 0 || s.charCodeAt(start) === 110;
}

/**
 * The epoch ms of a time value `open` accepted (a string without escapes, a number, true/false,
 * as the slow path's shipperTime reads them); NaN when `start` is -1.
 */
export function timeAt(s: string, start: number, end: number): number {
  if (start < 0) return Number.NaN;
  const c = s.charCodeAt(start);
  if (c === Q) return shipperTime(s.slice(start + 1, end - 1));
  if (c === 116 || c === 102) return shipperTime(c === 116); // true/false: NaN, as the slow path
  return shipperTime(Number(s.slice(start, end)));
}

/**
 * A flat copy that does not keep the raw line alive, in the same (one-byte) representation as the
 * lines it is compared with: a two-byte copy made every comparison and hash char-by-char.
 */
function ownCopy(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

const K_OTHER = 0;
const K_LOG = 1;
const K_MESSAGE = 2;
const K_TIME = 3;
const K_TIMESTAMP = 4;
const K_DATE = 5;
const K_KUBERNETES = 6;
/** `kubernetes.*` (Vector's flat keys), `resourceLogs*` (OTLP) or `scope` (merged ztunnel JSON): not for the scan. */
const K_REFUSE = 7;

/** Which key of interest `s[start, start + len)` is: by length first, one compare. */
function keyOf(s: string, start: number, len: number): number {
  switch (len) {
    case 3:
      return same(s, start, 'log') ? K_LOG : K_OTHER;
    case 4: {
      const c = s.charCodeAt(start);
      if (c === 116) return same(s, start, 'time') ? K_TIME : K_OTHER;
      return c === 100 && same(s, start, 'date') ? K_DATE : K_OTHER;
    }
    case 5:
      // `scope`: a merged ztunnel JSON record (its `message` is not the payload): the slow path decides.
      return same(s, start, 'scope') ? K_REFUSE : K_OTHER;
    case 6:
      return K_OTHER; // `stream`
    case 7:
      return same(s, start, 'message') ? K_MESSAGE : K_OTHER;
    case 10:
      if (s.charCodeAt(start) === 64) return same(s, start, '@timestamp') ? K_TIMESTAMP : K_OTHER;
      return same(s, start, 'kubernetes') ? K_KUBERNETES : K_OTHER;
  }
  if (len >= 11 && same(s, start, 'kubernetes.')) return K_REFUSE;
  return len >= 12 && same(s, start, 'resourceLogs') ? K_REFUSE : K_OTHER;
}

/** `s[at, at + word.length)` equals `word` (startsWith at an offset is a slow path in V8). */
function same(s: string, at: number, word: string): boolean {
  for (let j = 0; j < word.length; j++) if (s.charCodeAt(at + j) !== word.charCodeAt(j)) return false;
  return true;
}
