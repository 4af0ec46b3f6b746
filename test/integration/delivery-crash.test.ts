/**
 * Killing the pipeline with SIGKILL mid-stream and restarting it loses nothing: the real CLI
 * (`node dist/src/cli/main.js run`) consumes real Istio TEXT lines from a Kafka topic, and writes
 * the alert feed to Kafka and alerts and flow summaries to Elasticsearch. Offsets are committed
 * only after delivery, so the restart replays what was not committed; deterministic ids make the
 * replay overwrite. Expected alerts come from the same lines through the same stages in-process:
 * those of the lines before the commit, and those a fresh alert stage raises from the commit on (the
 * plain `run` does not checkpoint detection or alert-stage state, so flood folding restarts per source).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { buildStages } from '../../src/pipeline/stages.js';
import type { LineBatch } from '../../src/sources/types.js';
import { dropTestData } from './helpers/delivery.js';
import { elasticsearchUrl, kafkaBrokers, uniqueName, waitFor } from './helpers/stack.js';
import { TRAFFIC_T0, trafficLines } from './helpers/traffic.js';

const ROOT = join(import.meta.dirname, '..', '..');
const LINES = 4000;
const ATTACK_EVERY = 16;

describe('SIGKILL mid-stream and restart', () => {
  const es = new Client({ node: elasticsearchUrl() });
  const kafka = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const inTopic = uniqueName('deliver-crash-in');
  const feedTopic = uniqueName('deliver-crash-feed');
  const prefix = uniqueName('deliver-crash');
  const dir = mkdtempSync(join(tmpdir(), 'deliver-crash-'));
  const configFile = join(dir, 'pipeline.yaml');
  const children: ChildProcess[] = [];
  const rawConfig = {
    name: 'crash-test',
    sources: [
      {
        type: 'kafka',
        connection: { brokers: kafkaBrokers() },
        groupId: uniqueName('deliver-crash'),
        topics: [inTopic],
        fromBeginning: true,
      },
    ],
    sinks: [
      {
        type: 'kafka',
        topic: feedTopic,
        connection: { brokers: kafkaBrokers() },
        createTopic: { partitions: 1 },
      },
      { type: 'elasticsearch', connection: { url: elasticsearchUrl() }, indexPrefix: prefix },
    ],
    delivery: {
      deadLetterFile: join(dir, 'dead-letters.jsonl'),
      retryInitialMs: 200,
      retryMaxMs: 2000,
    },
    flows: { enabled: true, allowedLatenessMs: 30_000, snapshotIntervalMs: 0 },
    // Detectors that count over time (distinct subdomains, volumes, beacons, silence) start from empty
    // state after a crash (state checkpoints are issue 7): this test covers the per-event rules.
    detection: {
      detectors: {
        'high-cardinality-domain': { enabled: false },
        'new-destination': { enabled: false },
        'volume-spike': { enabled: false },
        beaconing: { enabled: false },
        'gateway-silence': { enabled: false },
      },
    },
    metrics: { enabled: false },
  };

  beforeAll(() => {
    writeFileSync(configFile, stringify(rawConfig));
    // The child runs the compiled CLI, so compile what is under test.
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  }, 180_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await dropTestData(es, prefix);
    await es.close();
  });

  function startPipeline(tag: string): {
    child: ChildProcess;
    exited: Promise<number | null>;
    stderr: () => string;
  } {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'dist/src/cli/main.js'), 'run', '--config', configFile],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children.push(child);
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    void tag;
    return { child, exited, stderr: () => err };
  }

  async function alertIdsInEs(): Promise<string[]> {
    await es.indices.refresh({
      index: `${prefix}-alerts*`,
      allow_no_indices: true,
      ignore_unavailable: true,
    });
    const r = await es.search<{ alert: { id: string } }>({
      index: `${prefix}-alerts*`,
      size: 10_000,
      _source: ['alert.id'],
      allow_no_indices: true,
      ignore_unavailable: true,
    });
    return r.hits.hits.map((h) => h._source?.alert.id as string);
  }

  it('yields every expected alert in Elasticsearch exactly once and in the Kafka feed at least once', async () => {
    const lines = trafficLines(0, LINES, ATTACK_EVERY);

    // Reference: the same lines through the same stages, in one batch, without the end-of-input flush
    // (a Kafka stream never ends; both runs hold back the last `lateness` of event time).
    // An alert can be emitted again with the same id (an update of a standing alert): compare distinct ids.
    const referenceIds = (from: number, to: number, finish: boolean): Set<string> => {
      const { ingest, detection } = buildStages(parsePipelineConfig(rawConfig, configFile));
      const batch: LineBatch = {
        source: `kafka:${inTopic}`,
        lines: lines.slice(from, to),
        position: (i) => `0/${from + i}`,
        ack: async () => {},
      };
      ingest.read(batch, (e, raw) => detection.observe(e, raw));
      detection.advance();
      const ids = new Set(detection.takeAlerts().map((a) => a.alert.id));
      if (finish) {
        detection.finish();
        for (const a of detection.takeAlerts()) ids.add(a.alert.id);
      }
      return ids;
    };
    const uninterrupted = referenceIds(0, LINES, false);
    // Enough distinct alerts that a crash lands between deliveries (since flood folding, a source's many
    // bypass destinations in one realert window share one alert: 147 ids from these 4,000 lines).
    expect(uninterrupted.size).toBeGreaterThan(100);

    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: inTopic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const produce = async (from: number, to: number, pauseMs = 0) => {
      for (let i = from; i < to; i += 200) {
        await producer.send({
          topic: inTopic,
          messages: lines.slice(i, Math.min(to, i + 200)).map((value) => ({ value })),
        });
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    };

    // First run: the first half arrives in small steps (many batches, some committed); SIGKILL mid-stream.
    const first = startPipeline('first');
    await waitFor(() => first.stderr().includes('Pipeline started.'), 30_000, 'the first run to start');
    await produce(0, LINES / 2, 300);
    const seenBeforeKill = await waitFor(
      async () => {
        const ids = await alertIdsInEs();
        return ids.length >= 60 ? ids.length : undefined;
      },
      60_000,
      'alerts from the first run in Elasticsearch',
      100,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const offsetAdmin = kafka.admin();
    await offsetAdmin.connect();
    const offsets = await offsetAdmin.fetchOffsets({
      groupId: rawConfig.sources[0]?.groupId as string,
      topics: [inTopic],
    });
    await offsetAdmin.disconnect();
    const committed = Number(offsets[0]?.partitions[0]?.offset ?? -1);
    // Some batches were committed, and the ones whose detection or flow minutes were still open were not.
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(LINES / 2);
    await produce(LINES / 2, LINES);
    await producer.disconnect();

    // What the two runs must have written. The alert stage's per-source flood windows are not checkpointed
    // in a plain `run` (like the detectors' state, issue 7), so the restart counts each source's distinct
    // alerts afresh from the committed offset: the union differs from the uninterrupted reference by where
    // the commit fell. Exactly: the first run delivered every alert of the lines before its commit (the
    // commit waits for delivery and for the watermark to pass them) and perhaps more of the first half;
    // the second run delivers every alert of a fresh stage from the commit on.
    const beforeCommit = referenceIds(0, committed, true);
    const firstHalf = referenceIds(0, LINES / 2, true);
    const afterRestart = referenceIds(committed, LINES, false);
    const required = [...new Set([...beforeCommit, ...afterRestart])].sort();
    const allowed = new Set([...firstHalf, ...afterRestart]);

    // Second run: resumes from the last committed offset and catches up; then a graceful SIGTERM.
    const second = startPipeline('second');
    // Wait for the catch-up (the group first waits out the killed member's session); assertions below show any gap.
    for (const deadline = Date.now() + 90_000; Date.now() < deadline; ) {
      const inEs = new Set(await alertIdsInEs());
      if (required.every((id) => inEs.has(id))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 2_000));
    second.child.kill('SIGTERM');
    const code = await second.exited;
    if (code !== 0) console.log(`[delivery-crash] second run stderr:\n${second.stderr()}`);
    expect(code).toBe(0);
    expect(second.stderr()).toContain('Stopped; everything complete was delivered and committed.');

    const inEs = await alertIdsInEs();
    console.log(`[delivery-crash] second run stderr tail:\n${second.stderr().slice(-1500)}`);
    // Exactly once, every required alert, and nothing the lines do not raise.
    expect(inEs.length).toBe(new Set(inEs).size);
    expect(required.filter((id) => !inEs.includes(id))).toEqual([]);
    expect(inEs.filter((id) => !allowed.has(id))).toEqual([]);

    const consumer = kafka.consumer({ groupId: uniqueName('deliver-crash-check') });
    const keys: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: feedTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        keys.push(message.key?.toString() ?? '');
      },
    });
    await waitFor(() => required.every((id) => keys.includes(id)) || undefined, 30_000, 'the alert feed');
    await new Promise((r) => setTimeout(r, 1_000));
    await consumer.disconnect();
    // The feed is at least once: every required alert (the wait above) and nothing the lines do not raise.
    expect(required.filter((id) => !keys.includes(id))).toEqual([]);
    expect(keys.filter((id) => !allowed.has(id))).toEqual([]);

    // Flow summaries of every minute that closed: totals match the input although the first run died mid-minute.
    await es.indices.refresh({ index: `${prefix}-flows` });
    const lastMinuteClosed = TRAFFIC_T0 + Math.floor(((LINES - 1) * 1000 - 30_000) / 60_000) * 60_000;
    const flows = await es.search({
      index: `${prefix}-flows`,
      size: 0,
      query: { range: { '@timestamp': { lt: new Date(lastMinuteClosed).toISOString() } } },
      aggs: { connections: { sum: { field: 'connections' } } },
    });
    const closedLines = Math.floor((lastMinuteClosed - TRAFFIC_T0) / 1000);
    expect((flows.aggregations?.connections as { value: number }).value).toBe(closedLines);

    console.log(
      `[delivery-crash] killed after ${seenBeforeKill} alerts in Elasticsearch; after restart ${inEs.length} alerts there (required ${required.length}, uninterrupted reference ${uninterrupted.size}), ` +
        `${keys.length} feed messages for ${new Set(keys).size} ids; first run committed offset ${committed}; flow connections of closed minutes ${closedLines}`,
    );
  }, 240_000);
});
