/**
 * Compiles an Envoy access-log format string into a parser, so users never write regexes.
 *
 * Grammar (envoy usage doc, "Format Strings"): literal text with command operators
 * `%COMMAND%`, `%COMMAND(arg)%` or `%COMMAND(arg):N%` (N = max length). A compiled format is a list
 * of segments "field, then the literal that follows it"; parsing walks the line with indexOf on each
 * literal, so a field costs one search, and fields nothing reads are never sliced. Known commands
 * (fields.ts) land in the AccessRecord; unknown ones are skipped. Two fields with no literal between
 * them cannot be split and are refused at compile time.
 *
 * The JSON variant (`json_format` / Telemetry `labels`: {key: "%COMMAND%"}) compiles to a key map.
 */
import { SentinelError } from '../errors.js';
import {
  assignNumber,
  assignString,
  F,
  type FieldId,
  fieldForCommand,
  isNumericField,
  readUint,
  resetRecord,
} from './fields.js';
import { compileStrftime, parseIsoTime, type StrftimeParser } from './time.js';
import type { AccessLineParser, AccessRecord, ParseOutcome } from './types.js';

export const ACCESS: ParseOutcome = Object.freeze({ kind: 'access' });

interface Segment {
  readonly command: string;
  readonly field: FieldId;
  readonly strftime: StrftimeParser | null;
  /** The literal after this field ('' for the last field when the format ends with a command). */
  readonly next: string;
  /** How many occurrences of `next` the value itself contains (a strftime pattern with spaces). */
  readonly skip: number;
}

interface Token {
  readonly literal: string | null;
  readonly command: string;
  readonly arg: string | null;
}

const COMMAND_RE = /^%([A-Z][A-Z0-9_]*)(?:\(([^)]*)\))?(?::\d+)?%/;

function tokenize(format: string): Token[] {
  const tokens: Token[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    const ch = format[i] as string;
    if (ch === '%') {
      if (format[i + 1] === '%') {
        literal += '%';
        i += 2;
        continue;
      }
      const m = COMMAND_RE.exec(format.slice(i));
      if (m !== null) {
        tokens.push({ literal, command: '', arg: null });
        tokens.push({
          literal: null,
          command: m[1] as string,
          arg: m[2] ?? null,
        });
        literal = '';
        i += m[0].length;
        continue;
      }
    }
    literal += ch;
    i++;
  }
  tokens.push({ literal, command: '', arg: null });
  return tokens;
}

/** Counts space-separated tokens, a `"..."` or `[...]` group counting as one (for error messages). */
export function countTextTokens(s: string): number {
  let n = 0;
  let i = 0;
  const len = s.length;
  while (i < len) {
    while (i < len && s.charCodeAt(i) === 32) i++;
    if (i >= len) break;
    n++;
    const c = s[i];
    const close = c === '"' ? '"' : c === '[' ? ']' : ' ';
    const j = s.indexOf(close, i + 1);
    i = j < 0 ? len : close === ' ' ? j : j + 1;
  }
  return n;
}

export interface CompileOptions {
  /** Used in reasons: "TEXT access line" or `custom format "x"`. */
  readonly label?: string;
  /** Layout name for reasons ("1.9+"). */
  readonly layout?: string;
  /** The last field may not contain a space (catches lines with more fields than the layout). */
  readonly strictTail?: boolean;
}

/** Characters a regex character class needs escaped. */
function classChar(c: string): string {
  return /[\\\]^-]/.test(c) ? `\\${c}` : c;
}

/** A literal as it appears inside a JSON string, as regex source. */
function escapedLiteral(lit: string): string {
  return JSON.stringify(lit)
    .slice(1, -1)
    .replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export class CompiledTextFormat {
  readonly prefix: string;
  readonly segments: readonly Segment[];
  readonly expectedTokens: number;
  readonly label: string;
  readonly layout: string;
  private readonly strictTail: boolean;
  /** See readJsonString; null when the format cannot be read that way (a value that spans its own literal). */
  private readonly inJson: RegExp | null;
  /** The segment of each capture group of `inJson`, in order. */
  private readonly inJsonSegments: readonly Segment[];

  constructor(
    readonly source: string,
    options: CompileOptions = {},
  ) {
    const format = source.endsWith('\n') ? source.slice(0, -1) : source;
    const tokens = tokenize(format);
    const segments: Segment[] = [];
    for (let i = 1; i < tokens.length; i += 2) {
      const t = tokens[i] as Token;
      const next = (tokens[i + 1] as Token).literal as string;
      const isLast = i + 2 >= tokens.length;
      if (next === '' && !isLast) {
        const after = tokens[i + 2] as Token;
        throw new SentinelError(
          'ESN_CONFIG',
          `access-log format: %${t.command}% and %${after.command}% have no text between them, so a line cannot be split there`,
          { where: source },
        );
      }
      const field = fieldForCommand(t.command, t.arg);
      let strftime: StrftimeParser | null = null;
      let skip = 0;
      if (field === F.START_TIME && t.arg !== null && t.arg !== '') {
        try {
          strftime = compileStrftime(t.arg);
        } catch (err) {
          throw new SentinelError('ESN_CONFIG', `access-log format: ${(err as Error).message}`, {
            where: source,
          });
        }
        if (next !== '') skip = t.arg.split(next).length - 1;
      }
      segments.push({
        command: t.arg === null ? t.command : `${t.command}(${t.arg})`,
        field,
        strftime,
        next,
        skip,
      });
    }
    if (segments.length === 0) {
      throw new SentinelError('ESN_CONFIG', 'access-log format has no %COMMAND% operators', {
        where: source,
      });
    }
    this.prefix = (tokens[0] as Token).literal as string;
    this.segments = segments;
    this.expectedTokens = countTextTokens(format);
    this.label = options.label ?? 'custom access line';
    this.layout = options.layout ?? 'configured';
    this.strictTail = options.strictTail ?? false;
    const inJson = this.compileInJson();
    this.inJson = inJson === null ? null : new RegExp(inJson.source, 'y');
    this.inJsonSegments = inJson === null ? [] : inJson.captured;
  }

  /**
   * A sticky regex over a JSON string literal (quotes included) holding one line of this format and
   * its newline (`"…\n"`), as shippers write it: the format's literals JSON-escaped, every value a
   * run of characters that needs no JSON escape and holds neither the first character of the literal
   * after it nor (strictTail) a space on the last field. A match is therefore both a valid JSON
   * string (what JSON.parse accepts) and the same split `parse` makes of the decoded line: `parse`
   * cuts each value at the first occurrence of the next literal, and no earlier one can start inside
   * a value. Values nobody reads are not captured.
   */
  private compileInJson(): { source: string; captured: Segment[] } | null {
    const noEscape = '"\\\\\\x00-\\x1f';
    let source = `"${escapedLiteral(this.prefix)}`;
    const captured: Segment[] = [];
    const segs = this.segments;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i] as Segment;
      if (seg.skip > 0) return null;
      const next = escapedLiteral(seg.next);
      const stopAt = seg.next === '' ? (this.strictTail ? ' ' : '') : (JSON.stringify(seg.next)[1] as string);
      if (seg.next === '' && i !== segs.length - 1) return null;
      const value = `[^${noEscape}${stopAt === '' ? '' : classChar(stopAt)}]*`;
      if (seg.field === F.SKIP) source += value;
      else {
        source += `(${value})`;
        captured.push(seg);
      }
      source += next;
    }
    return { source: `${source}\\\\n"`, captured };
  }

  /**
   * Reads the JSON string literal at `raw[at]` (its opening quote) when it holds one line of this
   * format plus its newline and no value needs unescaping: fills `out` and returns the index after
   * the closing quote. Returns -1 when it cannot be read so (another shape, an escape inside a value,
   * a bad value): the caller then decodes the string and calls `parse`, which gives the reason.
   */
  readJsonString(raw: string, at: number, out: AccessRecord): number {
    const re = this.inJson;
    if (re === null) return -1;
    re.lastIndex = at;
    const m = re.exec(raw);
    if (m === null) return -1;
    resetRecord(out);
    const segs = this.inJsonSegments;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i] as Segment;
      const v = m[i + 1] as string;
      const f = seg.field;
      // `-` is absent (0 for numbers, as the reset left it); an empty string too, but for a time or a number.
      if (v.length === 1 && v.charCodeAt(0) === 45) continue;
      if (v.length === 0) {
        if (f === F.START_TIME || isNumericField(f)) return -1;
        continue;
      }
      if (f === F.START_TIME) {
        const t = seg.strftime === null ? parseIsoTime(v, 0, v.length) : seg.strftime(v);
        if (Number.isNaN(t)) return -1;
        out.startTime = t;
      } else if (isNumericField(f)) {
        const n = readUint(v, 0, v.length);
        if (n < 0) return -1;
        assignNumber(out, f, n);
      } else assignString(out, f, v);
    }
    return re.lastIndex;
  }

  /** Fills `out` from `line`; returns null on success, else the reason. Never throws. */
  parse(line: string, out: AccessRecord): string | null {
    resetRecord(out);
    let end = line.length;
    while (end > 0) {
      const c = line.charCodeAt(end - 1);
      if (c !== 10 && c !== 13) break;
      end--;
    }
    if (!line.startsWith(this.prefix)) return `${this.label}: does not start with "${this.prefix}"`;
    let pos = this.prefix.length;
    const segs = this.segments;
    const last = segs.length - 1;
    for (let i = 0; i <= last; i++) {
      const seg = segs[i] as Segment;
      let stop: number;
      if (i === last) {
        stop = end - seg.next.length;
        if (stop < pos || !line.startsWith(seg.next, stop)) return this.shapeError(line, i);
        if (this.strictTail) {
          const sp = line.indexOf(' ', pos);
          if (sp >= 0 && sp < stop) return this.shapeError(line, i);
        }
      } else {
        stop = line.indexOf(seg.next, pos);
        for (let k = 0; k < seg.skip && stop >= 0; k++) stop = line.indexOf(seg.next, stop + seg.next.length);
        if (stop < 0 || stop > end) return this.shapeError(line, i);
      }
      const f = seg.field;
      if (f !== F.SKIP) {
        if (f === F.START_TIME) {
          if (!(stop - pos === 1 && line.charCodeAt(pos) === 45)) {
            const t =
              seg.strftime === null ? parseIsoTime(line, pos, stop) : seg.strftime(line.slice(pos, stop));
            if (Number.isNaN(t)) return this.valueError(seg, line.slice(pos, stop), 'is not a time');
            out.startTime = t;
          }
        } else if (isNumericField(f)) {
          const v = readUint(line, pos, stop);
          if (v < 0) return this.valueError(seg, line.slice(pos, stop), 'is not a number');
          assignNumber(out, f, v);
        } else if (!(stop - pos === 1 && line.charCodeAt(pos) === 45) && stop > pos) {
          assignString(out, f, line.slice(pos, stop));
        }
      }
      pos = stop + seg.next.length;
    }
    return null;
  }

  private shapeError(line: string, segment: number): string {
    const found = countTextTokens(line.trimEnd());
    if (found !== this.expectedTokens) {
      return `${this.label}: expected ${this.expectedTokens} fields for the ${this.layout} layout, found ${found}`;
    }
    const seg = this.segments[segment] as Segment;
    return `${this.label}: expected ${JSON.stringify(seg.next)} after %${seg.command}% (${this.layout} layout)`;
  }

  private valueError(seg: Segment, value: string, what: string): string {
    return `${this.label} (${this.layout} layout): %${seg.command}% ${what}: ${JSON.stringify(value.slice(0, 60))}`;
  }
}

/** A user-configured `%COMMAND%` format as an AccessLineParser. */
export class CustomFormatParser implements AccessLineParser {
  readonly format: string;
  private readonly compiled: CompiledTextFormat;

  constructor(formatString: string, name = 'custom') {
    this.format = name;
    this.compiled = new CompiledTextFormat(formatString, {
      label: `custom format "${name}"`,
      layout: 'configured',
    });
  }

  accepts(line: string): boolean {
    return line.startsWith(this.compiled.prefix);
  }

  parse(line: string, out: AccessRecord): ParseOutcome {
    const reason = this.compiled.parse(line, out);
    return reason === null ? ACCESS : { kind: 'malformed', reason };
  }
}

/** One JSON key and where its value goes. */
export interface JsonKeyField {
  readonly key: string;
  readonly field: FieldId;
  readonly strftime: StrftimeParser | null;
}

/**
 * Compiles a `json_format` map ({key: "%COMMAND%"}) to the keys worth reading. Values that are not
 * a single known command are skipped (nothing downstream reads them).
 */
export function compileJsonFormat(map: Readonly<Record<string, string>>): JsonKeyField[] {
  const out: JsonKeyField[] = [];
  for (const [key, value] of Object.entries(map)) {
    const m = COMMAND_RE.exec(value);
    if (m === null || m[0].length !== value.length) continue;
    const field = fieldForCommand(m[1] as string, m[2] ?? null);
    if (field === F.SKIP) continue;
    const arg = m[2];
    const strftime = field === F.START_TIME && arg !== undefined && arg !== '' ? compileStrftime(arg) : null;
    out.push({ key, field, strftime });
  }
  return out;
}
