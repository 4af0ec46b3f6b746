/**
 * What a sink module exports (after Vector's component spec and Redpanda Connect's ConfigSpec): its
 * `type`, the zod schema of its settings (a strict object whose `type` is that literal; its
 * `.describe()` is the sink's one-line summary, and every field's the reference), a constructor,
 * and the checks zod cannot make. The `sinks` config union, `createSink` and `check`'s problems are
 * derived from the registry, so a new sink is one module plus one registry line (CONTRIBUTING.md).
 */
import type { z } from 'zod';
import type { Sink, SinkContext } from './types.js';

/** The settings every sink has. */
export interface SinkSettings {
  readonly type: string;
  readonly name?: string | undefined;
}

export interface SinkSpec<S extends z.ZodType<SinkSettings> = z.ZodType<SinkSettings>> {
  readonly type: z.output<S>['type'];
  readonly config: S;
  /** A small working config (as a user writes it): the docs' and the compliance test's example. */
  readonly example: z.input<S>;
  /**
   * What the receiver sees when a batch is delivered again (a retry, or a restart replaying what was
   * not acknowledged): docs/delivery.md's sinks table.
   */
  readonly redelivery: string;
  /** The live sink; called once per pipeline. Must not connect yet (`Sink.start` does). */
  create(config: z.output<S>, ctx: SinkContext): Sink;
  /** Its name in logs, metrics and dead letters when the config gives none (unique per pipeline). */
  defaultName(config: z.output<S>): string;
  /**
   * Problems zod cannot see because they need the environment or the file system (an unset secret
   * variable, an unreadable secret file), each `field.path: problem`.
   */
  problems?(config: z.output<S>, env: NodeJS.ProcessEnv): string[];
}
