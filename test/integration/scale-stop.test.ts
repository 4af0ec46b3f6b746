/**
 * Stopping a scaled instance (SIGTERM): right after it started, before its groups were joined, it
 * exits promptly and cleanly; after it read input, its last checkpoint commits the by-source offsets
 * that are complete while it is still a member of the group (a commit after leaving is refused), so
 * the next owner replays only what was not done.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { generateTraffic } from '../../src/simulate/generate.js';
import { cleanUpScaled, startInstance, writeScaledPipeline } from './helpers/scaled-instances.js';
import { kafkaBrokers, uniqueName, waitFor } from './helpers/stack.js';

const MINUTE = 60_000;
const START = Date.parse('2025-03-03T08:00:00.000Z');
const ALERTS_ONLY = 'write: { alerts: true, flows: false, baselines: false }';

/** Resolves with the exit code, or rejects after `ms`. */
function exited(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error(`still running ${ms} ms after SIGTERM`)), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('scaled run stopped', () => {
  const name = uniqueName('scalestop');
  const kafka = new Kafka({
    clientId: 'scale-stop-test',
    brokers: kafkaBrokers(),
    logLevel: logLevel.NOTHING,
  });
  const children: ChildProcess[] = [];
  const logs: string[][] = [];
  afterAll(async () => {
    if (process.env.SCALE_TEST_LOGS) for (const l of logs) console.log(l.join(''));
    await cleanUpScaled(kafka, name, children);
  });
  const start = (config: string): { child: ChildProcess; log: string[] } => {
    const log: string[] = [];
    logs.push(log);
    const child = startInstance(config, log);
    children.push(child);
    return { child, log };
  };

  it('before it started: exits promptly, without a failed checkpoint', async () => {
    const input = `${name}-a-input`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: input, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    const { child, log } = start(writeScaledPipeline(`${name}-a`, input, '{}', ALERTS_ONLY));
    await waitFor(() => log.join('').includes('Serving metrics'), 30_000, 'the instance to start');
    child.kill('SIGTERM');
    expect(await exited(child, 45_000)).toBe(0);
    const text = log.join('');
    expect(text).toContain('Stopped; state checkpointed and offsets committed.');
    expect(text).not.toMatch(/Final checkpoint failed|level=error|Crash/);
  }, 90_000);

  it('after reading: the last checkpoint commits the by-source offsets that are complete', async () => {
    const input = `${name}-b-input`;
    // No checkpoint but the last: every committed by-source offset is the last checkpoint's.
    const file = writeScaledPipeline(`${name}-b`, input, '{}', ALERTS_ONLY);
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('commitIntervalMs: 500', 'commitIntervalMs: 600000'),
    );
    const lines = [
      ...generateTraffic({
        start: START,
        durationMs: 30 * MINUTE,
        rate: 200,
        format: 'json',
        envelope: 'fluent-bit',
        seed: 9,
        attacks: [],
      }),
    ];
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: input, numPartitions: 2 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < lines.length; i += 1000)
      await producer.send({
        topic: input,
        messages: lines.slice(i, i + 1000).map((value, j) => ({ value, partition: (i + j) % 2 })),
      });
    await producer.disconnect();
    const committed = async (groupId: string, topic: string): Promise<number> => {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
      return (offsets[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    };
    const { child, log } = start(file);
    // Stage 1 has re-keyed every line; stage 2 then has a few seconds to read them.
    await waitFor(
      async () => (await committed(`${name}-b`, input)) >= lines.length,
      60_000,
      'stage 1 to read',
    );
    await new Promise((r) => setTimeout(r, 3000));
    const bySource = `${name}-b-events-by-source`;
    expect(await committed(`${name}-b-by-source`, bySource)).toBe(0);
    child.kill('SIGTERM');
    expect(await exited(child, 45_000)).toBe(0);
    const ends = await admin.fetchTopicOffsets(bySource);
    await admin.disconnect();
    expect(log.join('')).not.toMatch(/Final checkpoint failed/);
    const admin2 = kafka.admin();
    await admin2.connect();
    const done = await admin2.fetchOffsets({ groupId: `${name}-b-by-source`, topics: [bySource] });
    await admin2.disconnect();
    const total = ends.reduce((n, p) => n + Number(p.high), 0);
    const sum = (done[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    // Everything but what the last lateness and the open minute still held.
    expect(sum).toBeGreaterThan(total / 2);
  }, 150_000);
});
