/**
 * Raw input (a file line or a Kafka message) -> zero or more access records, skips and malformed
 * lines, reported to a DecodeSink. Detection needs no configuration: a JSON envelope is parsed
 * once and matched against JSON_ENVELOPES; the inner line (or a bare line) is classified by its
 * first bytes: `[` TEXT, `{` JSON, a CRI prefix, a pilot-agent/Envoy log line, blank, or noise;
 * in `auto` mode a line none of those claim is offered to the parsers registered after the built-in
 * ones (parse/registry.ts). `format` forces one parser; `customFormat` / `customJsonFormat` add a compiled user format that is
 * tried first in `auto` mode.
 */
import { CustomFormatParser } from './custom-format.js';
import type { DecodeSink } from './decoder-types.js';
import { type CriParts, readCri } from './envelope/cri.js';
import { fluentBitEnvelope } from './envelope/fluent-bit.js';
import { FluentBitScanner, type InlineStringReader, timeAt } from './envelope/fluent-bit-scan.js';
import { LazyShipperMeta, resetMeta } from './envelope/meta.js';
import { kubectlPrefix, sternPrefix, timestampPrefix, withoutColours } from './envelope/paste.js';
import type { InnerSink, JsonEnvelope, JsonObject } from './envelope/types.js';
import { EnvoyJsonParser, looksLikeJsonAccess } from './envoy-json.js';
import { EnvoyTextParser } from './envoy-text.js';
import { IngestGuard, type IngestGuardOptions } from './ingest-guard.js';
import { BUILT_IN_PARSERS, JSON_ENVELOPES, PARSERS } from './registry.js';
import { type AccessLineParser, type AccessRecord, newAccessRecord, type ShipperMeta } from './types.js';
import { isZtunnelObject, looksLikeZtunnelJsonLine, looksLikeZtunnelText, ZtunnelParser } from './ztunnel.js';

export type FormatMode = 'auto' | 'text' | 'json' | 'custom';

export interface DecoderOptions {
  format?: FormatMode;
  customFormat?: string;
  customJsonFormat?: Record<string, string>;
  /**
   * Read Fluent Bit records with the scanner instead of JSON.parse of the whole record (default
   * true; the scanner falls back to the full parse whenever it is unsure). False is for tests.
   */
  fastEnvelopes?: boolean;
  /** Which containers write access lines and how far ahead of the shipper/wall clock a line may be. */
  guard?: IngestGuardOptions;
  /**
   * How far (ms) a bare line may be ahead of the newest line of its input before it is held for the
   * lines after it to confirm (parse/time-jump.ts; read by the pipeline's processor). 0: no check.
   */
  maxTimeJumpMs?: number;
}

// `2020-06-29T23:37:27.285550Z<TAB>info<TAB>...` (pilot-agent) and Envoy's `[2020-06-29 23:37:27.285][15][info]`.
const AGENT_LOG =
  /^\d{4}-\d\d-\d\dT[\d:.]+Z?[\t ]+(info|warn|warning|error|debug|critical|fatal|trace|none)\b/;
const ENVOY_LOG = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.\d]*\]\[/;

export class LineDecoder implements InnerSink {
  private readonly record: AccessRecord = newAccessRecord();
  private readonly meta = new LazyShipperMeta();
  private readonly cri: CriParts = {
    payloadStart: 0,
    partial: false,
    time: Number.NaN,
  };
  private readonly mode: FormatMode;
  private readonly text: EnvoyTextParser | null;
  private readonly json: EnvoyJsonParser | null;
  private readonly custom: AccessLineParser | null;
  /** ztunnel records (ambient mode), in every mode but `custom`. */
  private readonly ztunnel: ZtunnelParser | null;
  /** Registered parsers beyond the built-in ones (auto mode): offered the lines no built-in claimed. */
  private readonly others: readonly AccessLineParser[];
  private sink: DecodeSink | null = null;
  private raw = '';
  private envelope: JsonEnvelope | null = null;
  private readonly scanner: FluentBitScanner | null;
  /** The TEXT or JSON parser reading `log` in place during the scan (not when a custom format goes first). */
  private readonly inline: InlineStringReader | null;
  /** Sits between the parsers and the caller's sink (see ingest-guard.ts). */
  readonly guard: IngestGuard;

  constructor(options: DecoderOptions = {}) {
    this.guard = new IngestGuard(options.guard);
    this.mode = options.format ?? 'auto';
    this.scanner = options.fastEnvelopes === false ? null : new FluentBitScanner();
    this.custom = options.customFormat === undefined ? null : new CustomFormatParser(options.customFormat);
    const customJson =
      options.customJsonFormat === undefined
        ? null
        : new EnvoyJsonParser(options.customJsonFormat, 'custom-json');
    if (this.mode === 'custom' && this.custom === null && customJson === null) {
      throw new Error('format "custom" needs customFormat or customJsonFormat');
    }
    this.text = this.mode === 'auto' || this.mode === 'text' ? new EnvoyTextParser() : null;
    this.ztunnel = this.mode === 'custom' ? null : new ZtunnelParser();
    this.others =
      this.mode === 'auto' ? PARSERS.filter((p) => !BUILT_IN_PARSERS.has(p.name)).map((p) => p.create()) : [];
    this.json = customJson ?? (this.mode === 'auto' || this.mode === 'json' ? new EnvoyJsonParser() : null);
    const text = this.text;
    const json = this.json;
    const record = this.record;
    // A JSON line (`{`) goes to the JSON parser's in-place reader, anything else to the TEXT one's.
    this.inline =
      (text === null && json === null) || this.custom !== null
        ? null
        : {
            read: (raw: string, quoteAt: number) =>
              raw.charCodeAt(quoteAt + 1) === 123
                ? json === null
                  ? -1
                  : json.parseEscaped(raw, quoteAt + 1, record)
                : text === null
                  ? -1
                  : text.readJsonString(raw, quoteAt, record),
          };
  }

  /**
   * Never throws for the line's content: whatever throws while a line is read (a parser bug, a
   * regex out of stack on a hostile line) dead-letters that line, so one line cannot stop the
   * stream nor, in `run`, crash-loop on an offset that is never committed.
   */
  decode(raw: string, sink: DecodeSink): void {
    const guard = this.guard;
    guard.inner = sink;
    guard.raw = raw;
    try {
      this.decodeLine(raw, guard);
    } catch (err) {
      const e = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      sink.malformed(`line could not be processed (${e.length > 200 ? `${e.slice(0, 200)}…` : e})`, raw);
    }
  }

  private decodeLine(raw: string, sink: DecodeSink): void {
    this.sink = sink;
    this.raw = raw;
    this.envelope = null;
    const meta = this.meta;
    resetMeta(meta);
    if (raw.charCodeAt(0) !== 123) {
      this.line(raw, meta);
      return;
    }
    const scanner = this.scanner;
    if (scanner?.open(raw, meta, this.inline)) {
      if (scanner.tStart >= 0) meta.deferShippedAt(raw, scanner.tStart, scanner.tEnd, timeAt);
      this.envelope = fluentBitEnvelope;
      // A 1.9+ TEXT or a JSON line read in place from the record (no decode, no copy, no second pass).
      if (scanner.payloadRead) {
        sink.access(this.record, meta);
        return;
      }
      this.line(scanner.payloadText(raw), meta);
      return;
    }
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (err) {
      sink.malformed(`not valid JSON (${(err as Error).message})`, raw);
      return;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      sink.malformed('JSON value is not an object', raw);
      return;
    }
    const o = obj as JsonObject;
    if (this.ztunnel !== null && isZtunnelObject(o)) {
      this.object(o, meta);
      return;
    }
    const envs = JSON_ENVELOPES;
    for (let i = 0; i < envs.length; i++) {
      const env = envs[i] as JsonEnvelope;
      if (env.matches(o)) {
        this.envelope = env;
        env.open(o, meta, this);
        return;
      }
    }
    if (looksLikeJsonAccess(o)) this.object(o, meta);
    else if (typeof o.level === 'string' && (o.msg !== undefined || o.message !== undefined))
      sink.skipped('proxy log (JSON)');
    else
      sink.malformed(
        `JSON object is neither an access line nor a known envelope (keys: ${Object.keys(o).slice(0, 8).join(', ')})`,
        raw,
      );
  }

  /** InnerSink: an inner (or bare) payload line. */
  line(payload: string, meta: ShipperMeta): void {
    const sink = this.sink as DecodeSink;
    const c = payload.charCodeAt(0);
    let parser: AccessLineParser | null = null;
    if (c === 91) {
      // `kubectl logs --prefix`: `[pod/NAME/CONTAINER] `.
      if (payload.charCodeAt(1) === 112) {
        const at = kubectlPrefix(payload, meta);
        if (at > 0) {
          this.line(payload.slice(at), meta);
          return;
        }
      }
      if (ENVOY_LOG.test(payload)) {
        sink.skipped('proxy log (Envoy)');
        return;
      }
      parser = this.text;
    } else if (c === 123) {
      parser = this.ztunnel !== null && looksLikeZtunnelJsonLine(payload) ? this.ztunnel : this.json;
    } else if (c >= 48 && c <= 57) {
      if (readCri(payload, this.cri)) {
        if (this.cri.partial) {
          sink.skipped('CRI partial line (P)');
          return;
        }
        if (Number.isNaN(meta.shippedAt)) meta.shippedAt = this.cri.time;
        this.line(payload.slice(this.cri.payloadStart), meta);
        return;
      }
      if (this.ztunnel !== null && looksLikeZtunnelText(payload)) {
        const out = this.ztunnel.parseText(payload, this.record);
        if (out.kind === 'access') sink.access(this.record, meta);
        else if (out.kind === 'malformed') this.bad(out.reason);
        else sink.skipped(out.reason);
        return;
      }
      // `kubectl logs --timestamps` (or stern's): the time, then the line.
      const at = timestampPrefix(payload, meta);
      if (at > 0) {
        this.line(payload.slice(at), meta);
        return;
      }
      if (AGENT_LOG.test(payload)) {
        sink.skipped('proxy log (pilot-agent/Envoy)');
        return;
      }
    } else if (c === 34 && this.text !== null) {
      this.withoutTime(payload, meta);
      return;
    } else if (payload.length === 0 || payload.trim().length === 0) {
      sink.skipped('blank line');
      return;
    } else if (this.custom === null || !this.custom.accepts(payload)) {
      // stern's `[NAMESPACE] POD CONTAINER ` before the line.
      const clean = withoutColours(payload);
      const at = sternPrefix(clean, meta);
      if (at > 0) {
        this.line(clean.slice(at), meta);
        return;
      }
    }
    const custom = this.custom;
    if (custom?.accepts(payload)) {
      const out = custom.parse(payload, this.record);
      if (out.kind === 'access') {
        sink.access(this.record, meta);
        return;
      }
      if (parser === null || this.mode === 'custom') {
        this.bad(out.reason);
        return;
      }
    }
    if (parser === null) parser = this.otherFor(payload);
    if (parser === null) {
      // A fixed reason, not the line's text: skip counters are keyed by reason and must stay bounded.
      sink.skipped('not an access line (neither TEXT nor JSON)');
      return;
    }
    const out = parser.parse(payload, this.record);
    if (out.kind === 'access') sink.access(this.record, meta);
    else if (out.kind === 'malformed') this.bad(out.reason);
    else sink.skipped(out.reason);
  }

  /**
   * A line starting with the request (`"GET / HTTP/1.1" 200 ...`): a TEXT line whose `[START_TIME]`
   * was cut off. Read as if the time were `-`: with the shipper's time it is analysed (as `[-]` is),
   * without one it is dead-lettered with that reason, not skipped as noise.
   */
  private withoutTime(payload: string, meta: ShipperMeta): void {
    const text = this.text as EnvoyTextParser;
    const out = text.parse(`[-] ${payload}`, this.record);
    if (out.kind !== 'access') {
      (this.sink as DecodeSink).skipped('not an access line (neither TEXT nor JSON)');
      return;
    }
    if (Number.isNaN(meta.shippedAt))
      this.bad(
        'TEXT access line without its [%START_TIME%]: every other field is there, but the line has no time and no shipper time',
      );
    else (this.sink as DecodeSink).access(this.record, meta);
  }

  /** The first registered non-built-in parser that accepts `payload`, or null. */
  private otherFor(payload: string): AccessLineParser | null {
    const others = this.others;
    for (let i = 0; i < others.length; i++) {
      const p = others[i] as AccessLineParser;
      if (p.accepts(payload)) return p;
    }
    return null;
  }

  /** InnerSink: an access record already parsed as JSON within the envelope. */
  object(record: JsonObject, meta: ShipperMeta): void {
    const sink = this.sink as DecodeSink;
    if (this.ztunnel !== null && isZtunnelObject(record)) {
      const out = this.ztunnel.fill(record, this.record);
      if (out.kind === 'access') sink.access(this.record, meta);
      else if (out.kind === 'malformed') this.bad(out.reason);
      else sink.skipped(out.reason);
      return;
    }
    if (this.json === null) {
      sink.skipped('JSON access record while format is forced to text');
      return;
    }
    const out = this.json.fill(record, this.record);
    if (out.kind === 'access') sink.access(this.record, meta);
    else if (out.kind === 'malformed') this.bad(out.reason);
  }

  /** InnerSink: the envelope is broken. */
  broken(reason: string): void {
    (this.sink as DecodeSink).malformed(reason, this.raw);
  }

  private bad(reason: string): void {
    const env = this.envelope;
    (this.sink as DecodeSink).malformed(env === null ? reason : `${env.name}: ${reason}`, this.raw);
  }
}
