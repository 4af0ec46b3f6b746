/**
 * The formats and envelopes the decoder knows, name -> module. Adding one is one line here (order of
 * ENVELOPES matters: the first whose `matches` accepts the parsed object wins, most specific first).
 */
import { criEnvelopeName } from './envelope/cri-name.js';
import { dockerEnvelope, messageEnvelope } from './envelope/docker.js';
import { filebeatEnvelope } from './envelope/filebeat.js';
import { fluentBitEnvelope } from './envelope/fluent-bit.js';
import { otlpEnvelope } from './envelope/otlp.js';
import type { JsonEnvelope } from './envelope/types.js';
import { vectorEnvelope } from './envelope/vector.js';
import { EnvoyJsonParser } from './envoy-json.js';
import { EnvoyTextParser } from './envoy-text.js';
import type { AccessLineParser } from './types.js';
import { ZtunnelParser } from './ztunnel.js';

export const JSON_ENVELOPES: readonly JsonEnvelope[] = [
  otlpEnvelope,
  filebeatEnvelope,
  vectorEnvelope,
  fluentBitEnvelope,
  dockerEnvelope,
  messageEnvelope,
];

/** Text envelopes are recognised inside the decoder's line classifier (only CRI so far). */
export const TEXT_ENVELOPES: readonly string[] = [criEnvelopeName];

export const FORMAT_PARSERS: Readonly<Record<string, () => AccessLineParser>> = {
  'envoy-text': () => new EnvoyTextParser(),
  'envoy-json': () => new EnvoyJsonParser(),
  ztunnel: () => new ZtunnelParser(),
};
