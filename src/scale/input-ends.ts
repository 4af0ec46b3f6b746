/**
 * The input topic's end offsets, for stage 2 (watermarks.ts `ends`): a stage-1 reader that says its
 * input partition is caught up holds nothing back only while nothing was written past where it read.
 * Stage 2 looks the ends up after it read a batch and before it advances event time, so the lines
 * written to a partition whose reader is gone are noticed before the batch's events pass them by.
 * Lookups are shared: a batch waits for one that started after the batch was fetched, whichever
 * partition started it. A failed or slow lookup leaves the last ends (logged once per failing spell).
 */
import type { Admin } from 'kafkajs';
import type { LogFn } from '../sinks/types.js';

/** Longest wait for a lookup before a batch goes on with the ends it has. */
const LOOKUP_TIMEOUT_MS = 2000;

export class InputEnds {
  /** `kafka:topic/partition` -> end offset (the next offset a producer writes). */
  readonly ends = new Map<string, number>();
  private lookup: { startedAt: number; done: Promise<void> } | null = null;
  private failing = false;

  constructor(
    private readonly admin: Admin,
    private readonly topics: readonly string[],
    private readonly log: LogFn,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Resolves once ends looked up at or after `since` (wall time) are in `ends`, or the lookup gave up. */
  async after(since: number): Promise<void> {
    let current = this.lookup;
    if (current === null || current.startedAt < since) {
      // One in flight that started too early: wait for it, then start one of our own.
      if (current !== null) await current.done;
      current = this.lookup;
      if (current === null || current.startedAt < since) current = this.start();
    }
    await current.done;
  }

  private start(): { startedAt: number; done: Promise<void> } {
    const startedAt = this.clock();
    let timer: NodeJS.Timeout | undefined;
    const fetched = this.fetch().finally(() => clearTimeout(timer));
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, LOOKUP_TIMEOUT_MS);
    });
    const lookup = { startedAt, done: Promise.race([fetched, timeout]) };
    this.lookup = lookup;
    return lookup;
  }

  private async fetch(): Promise<void> {
    try {
      for (const topic of this.topics) {
        const offsets = await this.admin.fetchTopicOffsets(topic);
        for (const o of offsets) this.ends.set(`kafka:${topic}/${o.partition}`, Number(o.high));
      }
      this.failing = false;
    } catch (err) {
      if (!this.failing)
        this.log(
          'warn',
          "Could not look up the input partitions' end offsets; event time uses the last known.",
          {
            topics: this.topics.join(','),
            error: String(err),
          },
        );
      this.failing = true;
    }
  }
}
