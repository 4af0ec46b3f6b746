/**
 * The formats and envelopes the decoder knows, one line each. Order of ENVELOPES matters: the first
 * whose `matches` accepts the parsed object wins, most specific first. PARSERS: the first three are
 * built into the decoder's classifier (it knows their first bytes and reads them in place); any
 * registered after them is offered, in order, the lines no built-in claimed (parse/spec.ts).
 */
import { dockerEnvelope, messageEnvelope } from './envelope/docker.js';
import { filebeatEnvelope } from './envelope/filebeat.js';
import { fluentBitEnvelope } from './envelope/fluent-bit.js';
import { otlpEnvelope } from './envelope/otlp.js';
import type { JsonEnvelope } from './envelope/types.js';
import { vectorEnvelope } from './envelope/vector.js';
import { envoyJsonParserSpec } from './envoy-json.js';
import { envoyTextParserSpec } from './envoy-text.js';
import type { ParserSpec } from './spec.js';
import { ztunnelParserSpec } from './ztunnel.js';

export const JSON_ENVELOPES: readonly JsonEnvelope[] = [
  otlpEnvelope,
  filebeatEnvelope,
  vectorEnvelope,
  fluentBitEnvelope,
  dockerEnvelope,
  messageEnvelope,
];

export const PARSERS: readonly ParserSpec[] = [
  // Built into the decoder's classifier (BUILT_IN_PARSERS):
  envoyTextParserSpec,
  envoyJsonParserSpec,
  ztunnelParserSpec,
  // Offered, in this order, the lines the built-in ones leave:
];

/** Parsers the decoder classifies itself; the rest of PARSERS are tried on what these leave. */
export const BUILT_IN_PARSERS: ReadonlySet<string> = new Set(['envoy-text', 'envoy-json', 'ztunnel']);
