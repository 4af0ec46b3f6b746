/**
 * The run loop's bounded buffering per input partition: a partition that runs ahead of the slowest
 * one's event time is paused (its batches would otherwise sit uncommitted), and resumed when the
 * slowest catches up, as Kafka Streams pauses a partition whose buffer is full.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { buildStages } from '../../src/pipeline/stages.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import type { LineBatch, Source } from '../../src/sources/types.js';
import { runToMemory } from '../helpers/stages.js';
import { trafficLine } from '../integration/helpers/traffic.js';

/** Lines 0..n-1, one second apart, every 25th a passthrough connection (a gateway-bypass alert). */
const LINES = Array.from({ length: 1200 }, (_, n) => trafficLine(n, 25));
const BATCH = 10;

interface Outcome {
  alerts: Alert[];
  /** Most batches of a partition handed over and not acked at once, per partition. */
  mostUnacked: number[];
  pauses: number;
  /** Whether a partition was ever paused while it was the one with the oldest unread line. */
  pausedTheSlowest: boolean;
  lines: number;
}

/**
 * Two input partitions as a shipper keyed them: partition 0 gets every 6th line (a quiet pod: a batch
 * covers a minute of event time), partition 1 the rest (a batch covers 12 s). The fake consumer fetches
 * a batch of each partition in turn, skipping paused ones, and when only paused partitions are left
 * yields an empty batch after `tickMs`, as the Kafka source does. `silentAfter`: partition 1 delivers
 * this many batches, then nothing (its reader is gone) and never says it is caught up.
 */
async function drain(o: {
  maxBatchesAhead: number;
  idleTimeout?: string;
  silentAfter?: number;
}): Promise<Outcome> {
  const config = parsePipelineConfig(
    {
      sources: [{ type: 'kafka', topics: ['in'], groupId: 'core-test' }],
      sinks: [{ type: 'stdout' }],
      detection: {
        learningPeriod: '0s',
        ...(o.idleTimeout === undefined ? {} : { idleTimeout: o.idleTimeout }),
      },
    },
    'test',
  );
  const { ingest, detection } = buildStages(config, { policies: new PolicySet([]) });
  const parts = [LINES.filter((_, n) => n % 6 === 0), LINES.filter((_, n) => n % 6 !== 0)];
  const next = [0, 0];
  const unacked = [0, 0];
  const mostUnacked = [0, 0];
  const paused = new Set<number>();
  let pauses = 0;
  let pausedTheSlowest = false;
  let deliveredOf1 = 0;
  const available = (p: number): boolean =>
    (next[p] as number) < (parts[p] as string[]).length &&
    !(p === 1 && o.silentAfter !== undefined && deliveredOf1 >= o.silentAfter);
  const source: Source = {
    name: 'kafka:in',
    maxBatchesAhead: o.maxBatchesAhead,
    setPaused(stream, pause) {
      const p = Number(stream.slice('kafka:in/'.length));
      if (pause) {
        paused.add(p);
        pauses++;
        // The slowest: the partition whose next unread line is the oldest (lines are 1 s apart).
        const oldest = [0, 1].filter(available).sort((a, b) => nextTime(a) - nextTime(b))[0];
        if (oldest === p) pausedTheSlowest = true;
      } else paused.delete(p);
    },
    async *batches() {
      let turn = 0;
      let ticks = 0;
      for (;;) {
        const ready = [0, 1].filter((p) => available(p) && !paused.has(p));
        if (ready.length === 0) {
          if (![0, 1].some(available) && o.silentAfter === undefined) return;
          if (o.silentAfter !== undefined && !available(0)) return;
          if (++ticks > 200) throw new Error('stuck: every partition with lines left is paused');
          await new Promise((r) => setTimeout(r, 5));
          yield { source: 'kafka:in', lines: [], position: () => '', ack: async () => {} };
          continue;
        }
        ticks = 0;
        const p = ready.includes(turn % 2) ? turn % 2 : (ready[0] as number);
        turn++;
        const lines = (parts[p] as string[]).slice(next[p], (next[p] as number) + BATCH);
        const first = next[p] as number;
        next[p] = first + lines.length;
        if (p === 1) deliveredOf1++;
        unacked[p] = (unacked[p] as number) + 1;
        mostUnacked[p] = Math.max(mostUnacked[p] as number, unacked[p] as number);
        yield {
          source: 'kafka:in',
          stream: `kafka:in/${p}`,
          lines,
          position: (i) => `${p}/${first + i}`,
          ack: async () => {
            unacked[p] = (unacked[p] as number) - 1;
          },
          caughtUp: next[p] === (parts[p] as string[]).length,
        } satisfies LineBatch;
      }
    },
    close: async () => {},
  };
  const nextTime = (p: number): number => LINES.indexOf((parts[p] as string[])[next[p] as number] as string);
  const { alerts, summary } = await runToMemory(source, { ingest, detection });
  return { alerts, mostUnacked, pauses, pausedTheSlowest, lines: summary.lines };
}

const ids = (alerts: Alert[]) => alerts.map((a) => [a.alert.id, a['@timestamp'], a.alert.repeats]).sort();

describe('plain run: a partition ahead of the slowest is paused', () => {
  it('holds at most about one batch ahead per partition, never pauses the slowest, and gives the same alerts', async () => {
    const free = await drain({ maxBatchesAhead: 0 });
    const paced = await drain({ maxBatchesAhead: 1 });
    expect(free.pauses).toBe(0);
    // Unpaced, the quiet partition's batches (a minute each) wait for the busy one: many uncommitted.
    expect(free.mostUnacked[0]).toBeGreaterThanOrEqual(6);
    expect(paced.pauses).toBeGreaterThan(0);
    expect(paced.pausedTheSlowest).toBe(false);
    // One batch ahead, plus the one handed over as the pause is decided.
    expect(paced.mostUnacked[0]).toBeLessThanOrEqual(2);
    expect(paced.mostUnacked[1]).toBeLessThanOrEqual(free.mostUnacked[1] as number);
    expect(paced.lines).toBe(LINES.length);
    expect(paced.alerts.length).toBeGreaterThan(20);
    expect(ids(paced.alerts)).toEqual(ids(free.alerts));
  });

  it('resumes a paused partition once the slowest one has been silent past the idle timeout', async () => {
    // Partition 1 stops after 20 batches (4 minutes) and never says it is caught up; partition 0 is
    // paused ahead of it. Without the empty batches and the idle timeout it would stay paused.
    const out = await drain({ maxBatchesAhead: 1, idleTimeout: '30ms', silentAfter: 20 });
    expect(out.pauses).toBeGreaterThan(0);
    expect(out.lines).toBe(200 + 20 * BATCH);
  });
});
