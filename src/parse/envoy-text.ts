/**
 * Istio's default TEXT access-log format, in every field order Istio shipped, plus Envoy's own
 * default. Each layout is compiled from its exact format string (istio src, see
 * shared/reference/access-logs.md §1) with the same compiler users' custom formats go through.
 *
 * Detection per line (reference §1.2): after `[ts] "M P PROTO" CODE FLAGS `, the next token is
 *  - a bare word (`via_upstream`, `-`)  -> 1.9+ (1.9–1.22 %UPSTREAM_CLUSTER%, 1.23+ _RAW: same order;
 *    one trailing ';' of the non-raw name is stripped);
 *  - a quoted string -> 1.1–1.8: two quoted strings in a row -> 1.3–1.7 (21) or 1.2 (20), one -> 1.8 (20) or 1.1 (19);
 *  - a bare integer -> pre-1.1 (18) or Envoy's default (14).
 * Within a family the longer layout is tried first; the compiler rejects a line whose fields run out.
 */
import { ACCESS, CompiledTextFormat, countTextTokens } from './custom-format.js';
import type { ParserSpec } from './spec.js';
import type { AccessLineParser, AccessRecord, ParseOutcome } from './types.js';

const HEAD =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ';
const MIDDLE =
  '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" ';
const TAIL =
  '%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME%';

/** The exact format strings, keyed by the releases that emitted them. */
export const ISTIO_TEXT_FORMATS = {
  '1.23+': `${HEAD}%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ${MIDDLE}%UPSTREAM_CLUSTER_RAW% ${TAIL} %ROUTE_NAME%\n`,
  '1.9+': `${HEAD}%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ${MIDDLE}%UPSTREAM_CLUSTER% ${TAIL} %ROUTE_NAME%\n`,
  '1.8': `${HEAD}"%UPSTREAM_TRANSPORT_FAILURE_REASON%" ${MIDDLE}%UPSTREAM_CLUSTER% ${TAIL} %ROUTE_NAME%\n`,
  '1.3-1.7': `${HEAD}"%DYNAMIC_METADATA(istio.mixer:status)%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ${MIDDLE}%UPSTREAM_CLUSTER% ${TAIL} %ROUTE_NAME%\n`,
  '1.2': `${HEAD}"%DYNAMIC_METADATA(istio.mixer:status)%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ${MIDDLE}%UPSTREAM_CLUSTER% ${TAIL}\n`,
  '1.1': `${HEAD}"%DYNAMIC_METADATA(istio.mixer:status)%" ${MIDDLE}%UPSTREAM_CLUSTER% ${TAIL}\n`,
  'pre-1.1': `${HEAD}${MIDDLE}%UPSTREAM_CLUSTER% ${TAIL}\n`,
  'envoy-default': `${HEAD}%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n`,
} as const;

export type IstioTextLayout = keyof typeof ISTIO_TEXT_FORMATS;

function compile(layout: IstioTextLayout): CompiledTextFormat {
  return new CompiledTextFormat(ISTIO_TEXT_FORMATS[layout], {
    label: 'TEXT access line',
    layout,
    strictTail: true,
  });
}

// 1.23+ has the same field order as 1.9+; the 1.9+ parser (which strips a trailing ';') reads both.
const V19 = compile('1.9+');
const FAMILY_QUOTED_TWO = [compile('1.3-1.7'), compile('1.2')] as const;
const FAMILY_QUOTED_ONE = [compile('1.8'), compile('1.1')] as const;
const FAMILY_NUMBER = [compile('pre-1.1'), compile('envoy-default')] as const;

/** Which family a line belongs to, from the token after RESPONSE_FLAGS; null when the head is broken. */
function family(line: string): readonly CompiledTextFormat[] | null {
  const close = line.indexOf('] "', 1);
  if (close < 0) return null;
  const reqEnd = line.indexOf('" ', close + 3);
  if (reqEnd < 0) return null;
  const codeEnd = line.indexOf(' ', reqEnd + 2);
  if (codeEnd < 0) return null;
  const flagsEnd = line.indexOf(' ', codeEnd + 1);
  if (flagsEnd < 0) return null;
  const c = line.charCodeAt(flagsEnd + 1);
  if (c === 34) {
    // Quoted: is the token after this quoted string quoted too?
    const q = line.indexOf('" ', flagsEnd + 2);
    if (q < 0) return null;
    return line.charCodeAt(q + 2) === 34 ? FAMILY_QUOTED_TWO : FAMILY_QUOTED_ONE;
  }
  if (c >= 48 && c <= 57) return FAMILY_NUMBER;
  return null;
}

/** Index just after the `n`th token (counted as countTextTokens counts), or -1 when there are not more than n. */
function afterTokens(s: string, n: number): number {
  let count = 0;
  let i = 0;
  const len = s.length;
  while (i < len) {
    while (i < len && s.charCodeAt(i) === 32) i++;
    if (i >= len) return -1;
    if (count === n) return i - 1;
    count++;
    const c = s[i];
    const close = c === '"' ? '"' : c === '[' ? ']' : ' ';
    const j = s.indexOf(close, i + 1);
    i = j < 0 ? len : close === ' ' ? j : j + 1;
  }
  return -1;
}

export class EnvoyTextParser implements AccessLineParser {
  readonly format = 'envoy-text';
  /** Layout of the last successfully parsed line (for tests and diagnostics). */
  lastLayout = '';

  accepts(line: string): boolean {
    return line.charCodeAt(0) === 91 && line.charCodeAt(5) === 45;
  }

  /**
   * Reads a 1.9+/1.23+ line straight from the JSON string literal at `raw[at]` inside a shipper
   * record (CompiledTextFormat.readJsonString: no decode, no copy of the line, one regex pass that
   * also proves the string valid JSON). Returns the index after the closing quote, or -1 when that
   * is not certain to give what `parse` of the decoded line gives (another layout, a value holding
   * an escape, any error): the caller then decodes the string and calls `parse`.
   */
  readJsonString(raw: string, at: number, out: AccessRecord): number {
    const end = V19.readJsonString(raw, at, out);
    if (end < 0) return -1;
    // family(): a digit after RESPONSE_FLAGS would make it a pre-1.1 / Envoy-default line.
    const details = out.responseCodeDetails;
    if (details !== null) {
      const c = details.charCodeAt(0);
      if (c >= 48 && c <= 57) return -1;
    }
    this.lastLayout = V19.layout;
    return end;
  }

  /** Reads `line` as `layout` followed by extra fields; true when the known part parses. */
  private withTrailing(layout: CompiledTextFormat, line: string, out: AccessRecord): boolean {
    const body = line.trimEnd();
    if (countTextTokens(body) <= layout.expectedTokens) return false;
    const cut = afterTokens(body, layout.expectedTokens);
    if (cut < 0 || layout.parse(body.slice(0, cut), out) !== null) return false;
    const rest = body.slice(cut).trim();
    out.trailing = rest === '' ? null : rest;
    this.lastLayout = layout.layout;
    return true;
  }

  parse(line: string, out: AccessRecord): ParseOutcome {
    const fam = family(line);
    if (fam === null) {
      // The common case (1.9+), and the one to name in the reason when the head itself is broken.
      const reason = V19.parse(line, out);
      if (reason === null) {
        this.lastLayout = V19.layout;
        return ACCESS;
      }
      if (this.withTrailing(V19, line, out)) return ACCESS;
      return { kind: 'malformed', reason };
    }
    let first: string | null = null;
    for (const layout of fam) {
      const reason = layout.parse(line, out);
      if (reason === null) {
        this.lastLayout = layout.layout;
        return ACCESS;
      }
      first ??= reason;
    }
    // More fields than any layout: the known ones, then what a user appended (` traceID=...`).
    for (const layout of fam) if (this.withTrailing(layout, line, out)) return ACCESS;
    const names = fam.map((l) => `${l.layout} (${l.expectedTokens})`).join(' or ');
    return { kind: 'malformed', reason: `${first} (tried ${names})` };
  }
}

export const envoyTextParserSpec: ParserSpec = {
  name: 'envoy-text',
  summary: "Istio's TEXT access-log format of every release (and Envoy's default), told apart per line.",
  examples: [
    {
      line: '[2023-11-24T13:21:55.197Z] "- - -" 0 - - - "-" 805 15199 158 - "-" "-" "-" "-" "104.102.54.251:443" PassthroughCluster 172.17.34.35:45584 104.102.54.251:443 172.17.34.35:45582 cloud.ibm.com -',
      source: 'istio.io blog 2023/egress-sni (a sidecar going straight out through PassthroughCluster)',
    },
  ],
  create: () => new EnvoyTextParser(),
};
