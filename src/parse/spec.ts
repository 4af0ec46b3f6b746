/**
 * What a parser module exports: its format name, a one-line summary, real lines it reads (each with
 * where it was published; the compliance test parses them) and a constructor. Lines the decoder
 * does not recognise by their first bytes as Istio TEXT (`[`), JSON (`{`), ztunnel or a shipper's
 * wrapping are offered to the parsers registered after the built-in ones, in registry order, by
 * their `accepts`: a new format is one module plus one registry line (CONTRIBUTING.md).
 */
import type { AccessLineParser } from './types.js';

export interface ParserExample {
  readonly line: string;
  /** Where the line was published (an issue, a doc page), so the example is a real one. */
  readonly source: string;
}

export interface ParserSpec {
  /** `AccessLineParser.format` of what `create` returns; kebab-case. */
  readonly name: string;
  readonly summary: string;
  readonly examples: readonly [ParserExample, ...ParserExample[]];
  /** A parser for one decoder (it may keep per-line scratch state; never shared between decoders). */
  create(): AccessLineParser;
}
