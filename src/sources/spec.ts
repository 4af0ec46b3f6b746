/**
 * What a source module exports: its `type`, the zod schema of its settings (a strict object whose
 * `type` is that literal; its `.describe()` is the one-line summary), a constructor, and the checks
 * zod cannot make. The `sources` config union, `createSource` and `check`'s problems are derived
 * from the registry, so a new source is one module plus one registry line.
 */
import type { z } from 'zod';
import type { Source } from './types.js';

export interface SourceSpec<S extends z.ZodType<{ type: string }> = z.ZodType<{ type: string }>> {
  readonly type: z.output<S>['type'];
  readonly config: S;
  /** A small working config (as a user writes it): the docs' and the compliance test's example. */
  readonly example: z.input<S>;
  /** The live source; must not connect or open anything yet (`batches` does). */
  create(config: z.output<S>, env: NodeJS.ProcessEnv): Source;
  /**
   * Problems zod cannot see because they need the environment or the file system (a missing file,
   * an unset secret variable), each `field.path: problem`.
   */
  problems?(config: z.output<S>, env: NodeJS.ProcessEnv): string[];
}
