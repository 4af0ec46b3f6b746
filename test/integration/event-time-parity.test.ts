/**
 * Issue #19: `run` over a multi-partition backlog gives what `replay` of the same lines gives.
 *
 * Two days of simulated mesh (JSON lines in Fluent Bit records, the seed's attacks on day two, so
 * baselines learned on day one matter) are produced into a 6-partition topic keyed by pod, as
 * shippers key them, and drained by `run`: plain, scaled with two instances, and scaled started
 * mid-stream and restarted once. Parity (README "Live equals replay"): the same alert ids, and for
 * each id the records `run` wrote are those `replay` wrote, in order, except
 * - where lines were read (a Kafka offset there, a file line here): `evidence.origin`, and the other
 *   leg's origin of a joined connection (`evidence.join.otherLeg`, and the line a policy decision names),
 * - the last record, when `replay`'s end-of-input flush wrote it (a live stream has no end),
 * - `source.principal`, which a sidecar leg gets from the gateway's lines as they are read
 *   (identity/principal-map.ts), an order that differs between a file and six partitions,
 * - in scaled runs, the mesh-wide gateway-silence alerts (judged from per-window leg counts of all
 *   instances, gateway-evaluator.ts, not from joined legs): worded differently, but the same ids and
 *   the same judgements (status, time = the judged window's end, windowStart, windowMs).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTACK_NAMES } from '../../src/simulate/attacks.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { elasticsearchUrl, kafkaBrokers, uniqueName, waitFor } from './helpers/stack.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const POLICY = fileURLToPath(new URL('../../deploy/istio/authorization-policy.yaml', import.meta.url));
const DAY = 86_400_000;
const PARTITIONS = 6;

interface AlertRecord {
  '@timestamp': string;
  alert: { id: string; status: string; repeats: number };
  rule: { id: string };
  source: Record<string, unknown>;
  evidence: Record<string, unknown>;
}

function readAlerts(...files: string[]): AlertRecord[] {
  const out: AlertRecord[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n'))
      if (line !== '') out.push(JSON.parse(line) as AlertRecord);
  }
  return out;
}

function byId(records: AlertRecord[]): Map<string, AlertRecord[]> {
  const m = new Map<string, AlertRecord[]>();
  for (const r of records) {
    const list = m.get(r.alert.id) ?? [];
    list.push(r);
    m.set(r.alert.id, list);
  }
  return m;
}

/** Where a line was read: `file:/path:LINE` (replay) or `kafka:topic/partition/offset` (run). */
const ORIGIN = /file:[^\s")]+:\d+|kafka:[A-Za-z0-9._-]+\/\d+\/\d+/g;

/** What parity compares: the record without where its lines were read and its learned principal. */
function comparable(r: AlertRecord): string {
  const { origin: _origin, ...evidence } = r.evidence;
  const { principal: _principal, ...source } = r.source;
  return JSON.stringify({ ...r, evidence, source }).replace(ORIGIN, '<origin>');
}

const meshWide = (r: AlertRecord): boolean => r.evidence.kind === 'mesh-wide';

/**
 * Differences from parity, as readable lines (empty: parity). `ordered`: one writer, so the run's
 * records of an id must be replay's in order; else (several instances) the final record is compared.
 */
function parityGaps(replay: AlertRecord[], run: AlertRecord[], ordered: boolean): string[] {
  const gaps: string[] = [];
  const want = byId(replay);
  const got = byId(run);
  for (const id of want.keys()) if (!got.has(id)) gaps.push(`missing ${id} (${want.get(id)?.[0]?.rule.id})`);
  for (const id of got.keys())
    if (!want.has(id))
      gaps.push(`extra ${id} (${got.get(id)?.[0]?.rule.id} at ${got.get(id)?.[0]?.['@timestamp']})`);
  for (const [id, records] of got) {
    const expected = want.get(id);
    if (expected === undefined) continue;
    if (records.some(meshWide)) {
      const judged = (r: AlertRecord): string =>
        JSON.stringify([r['@timestamp'], r.alert.status, r.evidence.windowStart, r.evidence.windowMs]);
      const want = new Set(expected.map(judged));
      const other = records.map(judged).filter((r) => !want.has(r));
      if (other.length > 0)
        gaps.push(
          `${id} (mesh-wide): run judged\n    ${other.join('\n    ')}\n  replay judged\n    ${[...want].join('\n    ')}`,
        );
      continue;
    }
    const w = expected.map(comparable);
    // A record written twice (redelivered after a restart) is the same record.
    const g = records.map(comparable).filter((r, i, all) => i === 0 || r !== all[i - 1]);
    const prefix = ordered
      ? g.every((r, i) => r === w[i]) && g.length >= w.length - 1
      : g.includes(w[w.length - 1] as string) || (w.length > 1 && g.at(-1) === w[w.length - 2]);
    if (!prefix)
      gaps.push(
        `${id} (${expected[0]?.rule.id}): run wrote\n    ${g.join('\n    ')}\n  replay wrote\n    ${w.join('\n    ')}`,
      );
  }
  return gaps;
}

describe('live equals replay on a multi-partition backlog (issue #19)', () => {
  const name = uniqueName('parity');
  const input = `${name}-input`;
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const kafka = new Kafka({ clientId: 'parity-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const children: ChildProcess[] = [];
  const logs = new Map<ChildProcess, string[]>();
  let messages: { key: string; value: string }[] = [];
  let replay: AlertRecord[] = [];
  let egressEvents = 0;

  const produce = async (topic: string, batch: { key: string; value: string }[]): Promise<void> => {
    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < batch.length; i += 1000)
      await producer.send({ topic, messages: batch.slice(i, i + 1000) });
    await producer.disconnect();
  };

  const config = (tag: string, topic: string, alerts: string, scaled: boolean): string => {
    const file = join(dir, `${tag}.yaml`);
    writeFileSync(
      file,
      [
        `name: ${name}-${scaled ? 'scaled' : 'plain'}-${topic.slice(-1)}`,
        'sources:',
        `  - { type: kafka, connection: { brokers: [${kafkaBrokers().join(',')}] }, groupId: ${name}-${tag.replace(/-\d$/, '')}, topics: [${topic}], fromBeginning: true, sessionTimeoutMs: 10000 }`,
        'sinks:',
        `  - { type: file, path: ${alerts}, include: [alerts], fsync: false }`,
        `policies: [${POLICY}]`,
        'metrics: { enabled: true, host: 127.0.0.1, port: 0 }',
        `delivery: { deadLetterFile: ${join(dir, `${tag}-dead.jsonl`)} }`,
        scaled ? 'scale: { enabled: true, partitions: 4, commitIntervalMs: 500 }' : '',
        '',
      ].join('\n'),
    );
    return file;
  };

  const start = (file: string): ChildProcess => {
    const child = spawn(process.execPath, [CLI, 'run', '--config', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const log: string[] = [];
    child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
    children.push(child);
    logs.set(child, log);
    return child;
  };

  /** Sum of a counter over the given instances' /metrics (labels matched by `labels`). */
  const metric = async (instances: ChildProcess[], metricName: string, labels = ''): Promise<number> => {
    let sum = 0;
    for (const c of instances) {
      const port = /Serving metrics\.[^\n]*port=(\d+)/.exec(logs.get(c)?.join('') ?? '')?.[1];
      if (port === undefined) return Number.NaN;
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const m of text.matchAll(new RegExp(`^egress_sentinel_${metricName}\\{([^}]*)\\} (\\S+)$`, 'gm')))
        if ((m[1] as string).includes(labels)) sum += Number(m[2]);
    }
    return sum;
  };

  /** Waits until the instances analysed every egress event and their output settled, then stops them. */
  const drainAndStop = async (
    instances: ChildProcess[],
    events: number,
    lines: number,
    settled: () => boolean = () => true,
  ): Promise<void> => {
    await waitFor(
      async () => (await metric(instances, 'lines_received_total')) >= lines,
      90_000,
      'every line to be read',
    );
    await waitFor(
      async () => (await metric(instances, 'events_received_total')) >= events,
      90_000,
      'every egress event to reach detection',
    );
    await new Promise((r) => setTimeout(r, 2000)); // the last batches' sink writes
    // Scaled: the mesh-wide evaluator judges a window once every instance's heartbeat passed it,
    // which can come some seconds after the last event (a missing id is then reported below).
    await waitFor(settled, 30_000, 'the output to settle').catch(() => undefined);
    if (process.env.PARITY_TEST_LOGS)
      for (const m of [
        'event_time_watermark_seconds',
        'event_time_buffered_events',
        'late_events_total',
        'events_received_total',
        'event_time_idle_inputs',
      ])
        console.log(m, await metric(instances, m));
    await Promise.all(instances.map(stop));
  };

  const stop = (c: ChildProcess): Promise<void> =>
    new Promise((resolve) => {
      if (c.exitCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });

  /**
   * A topic with half the lines, a run started on it (same group for `tag`-0 and `tag`-1: two configs
   * differing only in the alerts file) while the rest arrives, as shippers deliver it, and stopped
   * once it read 60 % of them. Returns the first run and both runs' alerts files.
   */
  const startMidStreamAndStop = async (
    topic: string,
    tag: string,
    scaled: boolean,
  ): Promise<{ first: ChildProcess; files: [string, string] }> => {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    const half = Math.floor(messages.length / 2);
    await produce(topic, messages.slice(0, half));
    const files: [string, string] = [join(dir, `${tag}-0.jsonl`), join(dir, `${tag}-1.jsonl`)];
    const first = start(config(`${tag}-0`, topic, files[0], scaled));
    const rest = produce(topic, messages.slice(half));
    await waitFor(
      async () => (await metric([first], 'lines_received_total')) >= messages.length * 0.6,
      90_000,
      'the first run to read 60 % of the lines',
    );
    await rest;
    await stop(first);
    return { first, files };
  };

  /** A number from the summary a run logs when it stops (`lines`, `unacked_batches`). */
  const summary = (c: ChildProcess, field: string): number =>
    Number(new RegExp(`Stopped;[^\\n]*\\b${field}=(\\d+)`).exec(logs.get(c)?.join('') ?? '')?.[1]);

  beforeAll(async () => {
    // Two days at a modest rate: ~68,000 lines from 28 pods; the attacks come on day two.
    const traffic = generateTraffic({
      start: Date.parse('2025-03-03T00:00:00.000Z'),
      durationMs: 2 * DAY,
      rate: 15,
      format: 'json',
      envelope: 'fluent-bit',
      seed: 5,
      attacks: [...ATTACK_NAMES],
    });
    messages = [...traffic.messages()];
    const file = join(dir, 'mesh.log');
    writeFileSync(file, `${messages.map((m) => m.value).join('\n')}\n`);
    const alerts = join(dir, 'replay.jsonl');
    const { stderr } = await promisify(execFile)(
      process.execPath,
      [CLI, 'replay', '--policy', POLICY, '--alerts', alerts, file],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    egressEvents = Number(/egress analysed: (\d+)/.exec(stderr)?.[1]);
    replay = readAlerts(alerts);
    await admin.connect();
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (process.env.PARITY_TEST_LOGS) for (const l of logs.values()) console.log(l.join(''));
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(name));
    await admin.deleteTopics({ topics: mine }).catch(() => {});
    await admin.disconnect();
    await fetch(`${elasticsearchUrl()}/${name}-*`, { method: 'DELETE' }).catch(() => {});
  });

  it('replays a mesh with every kind of alert', () => {
    expect(messages.length).toBeGreaterThan(50_000);
    expect(new Set(replay.map((r) => r.rule.id)).size).toBeGreaterThanOrEqual(8);
    expect(egressEvents).toBeGreaterThan(20_000);
  });

  it('plain run draining the backlog: the same alerts, none late', async () => {
    const topic = `${input}-1`;
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    await produce(topic, messages);
    const alerts = join(dir, 'plain.jsonl');
    const run = start(config('plain', topic, alerts, false));
    await drainAndStop([run], egressEvents, messages.length);
    const gaps = parityGaps(replay, readAlerts(alerts), true);
    if (process.env.PARITY_TEST_LOGS) console.log(gaps.join('\n'));
    expect(gaps).toEqual([]);
    expect(existsSync(join(dir, 'plain-dead.jsonl'))).toBe(false);
  }, 240_000);

  it('scaled run with two instances draining the backlog: the same alerts', async () => {
    const topic = `${input}-2`;
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    await produce(topic, messages);
    const files = [join(dir, 'scaled-0.jsonl'), join(dir, 'scaled-1.jsonl')];
    const instances = [
      start(config('scaled-0', topic, files[0] as string, true)),
      start(config('scaled-1', topic, files[1] as string, true)),
    ];
    const want = new Set(replay.map((r) => r.alert.id));
    await drainAndStop(instances, egressEvents, messages.length, () => {
      const got = new Set(readAlerts(...files).map((r) => r.alert.id));
      return [...want].every((id) => got.has(id));
    });
    const gaps = parityGaps(replay, readAlerts(...files), false);
    if (process.env.PARITY_TEST_LOGS) console.log(gaps.join('\n'));
    expect(gaps.filter((g) => g.startsWith('missing'))).toEqual([]);
    // Known gap (README): stage 1 learns a sidecar's principal from the gateway's lines as it reads
    // them, per instance; a gateway leg read before it is judged by forbidden-destination on its own,
    // so the forbidden access counts twice (more repeats, and one extra id for the gateway's leg).
    expect(gaps.filter((g) => !g.includes('(forbidden-destination'))).toEqual([]);
    expect(existsSync(join(dir, 'scaled-0-dead.jsonl')) || existsSync(join(dir, 'scaled-1-dead.jsonl'))).toBe(
      false,
    );
  }, 300_000);

  it('scaled run started mid-stream and restarted once: the same alerts, about a batch per partition read again', async () => {
    const { first, files } = await startMidStreamAndStop(`${input}-3`, 'restart', true);
    const topic = `${input}-3`;
    const linesRead = (c: ChildProcess): number => summary(c, 'lines');
    const readBefore = linesRead(first);
    expect(readBefore).toBeGreaterThan(0);
    const second = start(config('restart-1', topic, files[1] as string, true));
    const want = new Set(replay.map((r) => r.alert.id));
    await waitFor(
      () => {
        const got = new Set(readAlerts(...files).map((r) => r.alert.id));
        return [...want].every((id) => got.has(id));
      },
      90_000,
      'every alert of the replay',
    );
    await waitFor(
      async () => (await metric([second], 'lines_received_total')) + readBefore >= messages.length,
      30_000,
      'every line to be read',
    );
    await new Promise((r) => setTimeout(r, 3000));
    await stop(second);
    const readAfter = linesRead(second);
    const gaps = parityGaps(replay, readAlerts(...files), false);
    expect(gaps.filter((g) => !g.includes('(forbidden-destination'))).toEqual([]);
    // Read again after the restart: what the first run read but had not committed.
    const readAgain = readBefore + readAfter - messages.length;
    if (process.env.PARITY_TEST_LOGS) console.log(`read again after the restart: ${readAgain} lines`);
    expect(readAgain).toBeGreaterThanOrEqual(0);
    expect(readAgain).toBeLessThanOrEqual(PARTITIONS * 1000);
  }, 300_000);

  it('plain run stopped mid-stream and restarted: the first run wrote what replay wrote, the restart read again only what was not done', async () => {
    const { first, files } = await startMidStreamAndStop(`${input}-4`, 'plain-restart', false);
    const topic = `${input}-4`;
    const readBefore = summary(first, 'lines');
    const heldAtStop = summary(first, 'unacked_batches');
    const linesPerBatch = readBefore / summary(first, 'batches');
    expect(readBefore).toBeGreaterThan(0);
    // Up to the stop the plain run is the replay of what it read: each id's records are replay's first ones.
    const want = byId(replay);
    const gaps: string[] = [];
    for (const [id, records] of byId(readAlerts(files[0] as string))) {
      const w = (want.get(id) ?? []).map(comparable);
      const g = records.map(comparable);
      if (!g.every((r, i) => r === w[i]))
        gaps.push(`${id}: run wrote\n    ${g.join('\n    ')}\n  replay wrote\n    ${w.join('\n    ')}`);
    }
    expect(gaps).toEqual([]);
    // The restart (same group) reads what the first run had not committed, then the rest. Detection
    // state is not kept (README: a plain restart learns again), so its alerts are not compared.
    const second = start(config('plain-restart-1', topic, files[1] as string, false));
    await waitFor(
      async () => (await metric([second], 'lines_received_total')) + readBefore >= messages.length,
      90_000,
      'every line to be read',
    );
    await new Promise((r) => setTimeout(r, 2000));
    await stop(second);
    const readAgain = readBefore + summary(second, 'lines') - messages.length;
    if (process.env.PARITY_TEST_LOGS)
      console.log(
        `plain restart: read again ${readAgain} lines; ${heldAtStop} batches held at the stop, ${Math.round(linesPerBatch)} lines per batch`,
      );
    // What it read again is what was held: the batches whose events the detectors had not all seen
    // or whose flow minute was open (docs/scale-out.md, plain run restart); a batch is at most a
    // fetch of one partition. A partition that ran ahead of the slowest is paused at one batch
    // ahead, so about a batch per partition is held (37-44 batches, 10,322-19,661 lines before).
    expect(readAgain).toBeGreaterThanOrEqual(0);
    expect(readAgain).toBeLessThanOrEqual(Math.max(1, heldAtStop) * 1000);
    expect(heldAtStop).toBeLessThanOrEqual(2 * PARTITIONS);
    expect(readAgain).toBeLessThanOrEqual(2 * PARTITIONS * linesPerBatch);
    expect(existsSync(join(dir, 'plain-restart-0-dead.jsonl'))).toBe(false);
    expect(existsSync(join(dir, 'plain-restart-1-dead.jsonl'))).toBe(false);
  }, 300_000);
});
