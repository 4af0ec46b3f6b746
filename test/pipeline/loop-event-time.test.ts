/** The run loop's event time per input partition (a Kafka batch is one partition's). */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import type { DeadLetter } from '../../src/dead-letter.js';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { buildStages } from '../../src/pipeline/stages.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import type { LineBatch, Source } from '../../src/sources/types.js';
import { runToMemory } from '../helpers/stages.js';
import { trafficLine } from '../integration/helpers/traffic.js';

const config = parsePipelineConfig(
  {
    sources: [{ type: 'kafka', topics: ['in'], groupId: 'core-test' }],
    sinks: [{ type: 'stdout' }],
    detection: { learningPeriod: '0s' },
  },
  'test',
);

function batch(partition: number, lines: string[], first: number, caughtUp = false): LineBatch {
  return {
    source: 'kafka:in',
    stream: `kafka:in/${partition}`,
    lines,
    position: (i) => `${partition}/${first + i}`,
    ack: async () => {},
    caughtUp,
  };
}

/** Lines 0..n-1, one second apart, every 25th a passthrough connection (a gateway-bypass alert). */
const LINES = Array.from({ length: 600 }, (_, n) => trafficLine(n, 25));

/**
 * Processes `batches`; `assigned` are the input partitions the consumer was given (the Kafka source
 * names them unread until their first batch is handed over).
 */
async function collect(
  batches: LineBatch[],
  assigned: string[] = [],
): Promise<{ alerts: Alert[]; dead: DeadLetter[]; late: number }> {
  const { ingest, detection } = buildStages(config, { policies: new PolicySet([]) });
  const unread = new Set(assigned);
  const source: Source = {
    name: 'kafka:in',
    async *batches() {
      for (const b of batches) {
        unread.delete(b.stream as string);
        yield b;
      }
    },
    unreadStreams: () => unread,
    close: async () => {},
  };
  const { alerts, dead } = await runToMemory(source, { ingest, detection });
  return { alerts, dead, late: detection.counts.late };
}

const summary = (alerts: Alert[]) => alerts.map((a) => [a.alert.id, a['@timestamp'], a.alert.repeats]);

describe('plain run: event time per input partition', () => {
  it('gives the alerts of one ordered stream when one partition is drained before the other', async () => {
    const ordered = await collect([batch(0, LINES, 0)]);
    expect(ordered.alerts.length).toBeGreaterThan(10);
    // Shipper keyed: even lines on partition 0, odd on partition 1. Partition 0 is drained to its end
    // before partition 1 is fetched at all (a backlog, a slow fetch).
    const p0 = LINES.filter((_, n) => n % 2 === 0);
    const p1 = LINES.filter((_, n) => n % 2 === 1);
    const batches: LineBatch[] = [];
    for (let i = 0; i < p0.length; i += 50) batches.push(batch(0, p0.slice(i, i + 50), i));
    for (let i = 0; i < p1.length; i += 50) batches.push(batch(1, p1.slice(i, i + 50), i));
    // Not knowing partition 1 was assigned, event time runs ahead and its lines arrive late.
    expect((await collect(batches)).late).toBeGreaterThan(250);
    const split = await collect(batches, ['kafka:in/0', 'kafka:in/1']);
    expect(split.late).toBe(0);
    expect(split.dead).toEqual([]);
    expect(summary(split.alerts).sort()).toEqual(summary(ordered.alerts).sort());
  });

  it('dead-letters, with its line and why, an event from a partition that was left behind', async () => {
    // Partition 1 reported caught up at its first line; partition 0 then ran ten minutes ahead.
    const late = trafficLine(25, 25);
    const out = await collect([
      batch(1, [trafficLine(0, 25)], 0, true),
      batch(0, LINES, 0),
      batch(1, [late], 1),
    ]);
    expect(out.late).toBe(1);
    expect(out.dead).toHaveLength(1);
    expect(out.dead[0]).toEqual({
      component: 'late',
      reason: expect.any(String),
      origin: 'kafka:in/1/1',
      raw: late,
    });
    expect(out.dead[0]?.reason).toMatch(
      /^late event: its time 2026-01-15T09:00:25.000Z is \d+\.\d{3} s behind the watermark/,
    );
  });
});
