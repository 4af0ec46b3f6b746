/**
 * Mesh-wide gateway silence in a scaled deployment: two instances in one group, input spread
 * round-robin (no identity is co-located), the egress gateway's lines stop mid-stream for 30
 * minutes of event time. Exactly one gateway-silence alert must reach Elasticsearch, raised by the
 * heartbeat evaluator, and be resolved (same id) when the gateway's lines return; the instance that
 * evaluated is stopped half-way, so the other one rebuilds the evaluator from the heartbeat topic.
 * The traffic before and after the silence has no attack and must raise no gateway-silence alert
 * (no per-partition "silence" and no unaccounted gateway legs from legs split across partitions).
 */
import type { ChildProcess } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { generateTraffic } from '../../src/simulate/generate.js';
import { cleanUpScaled, startInstance, writeScaledPipeline } from './helpers/scaled-instances.js';
import { elasticsearchUrl, kafkaBrokers, uniqueName, waitFor } from './helpers/stack.js';

const MINUTE = 60_000;
const START = Date.parse('2025-03-03T08:00:00.000Z');
const SILENT_FROM = START + 15 * MINUTE;
const SILENT_TO = SILENT_FROM + 30 * MINUTE;

interface AlertDoc {
  _id: string;
  alert: { id: string; status: string; first_seen: string };
  reason: string;
  evidence: { kind?: string; publishers?: number };
}

async function gatewaySilenceAlerts(index: string): Promise<AlertDoc[]> {
  await fetch(`${elasticsearchUrl()}/${index}/_refresh`, { method: 'POST' });
  const res = await fetch(`${elasticsearchUrl()}/${index}/_search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // With the legs' own rule: a gateway leg paired with nothing would be a false unaccounted-leg alert.
    body: JSON.stringify({
      query: { terms: { 'rule.id': ['gateway-silence', 'unaccounted-gateway-leg'] } },
      size: 100,
    }),
  });
  if (res.status === 404) return [];
  const body = (await res.json()) as { hits: { hits: { _id: string; _source: Omit<AlertDoc, '_id'> }[] } };
  return body.hits.hits.map((h) => ({ _id: h._id, ...h._source }));
}

describe('scaled gateway silence', () => {
  const children: ChildProcess[] = [];
  const name = uniqueName('gwsilence');
  const input = `${name}-input`;
  const kafka = new Kafka({
    clientId: 'gw-silence-test',
    brokers: kafkaBrokers(),
    logLevel: logLevel.NOTHING,
  });
  const logs: string[][] = [[], []];
  afterAll(async () => {
    if (process.env.SCALE_TEST_LOGS) for (const l of logs) console.log(l.join(''));
    if (process.env.GW_SILENCE_KEEP) {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      return console.log(`kept ${name}`);
    }
    await cleanUpScaled(kafka, name, children);
  });

  it('raises one gateway-silence alert mesh-wide when the gateway stops logging, resolves it, and none on normal traffic', async () => {
    // Only gateway-silence matters here: nothing else leaves its learning period.
    const config = writeScaledPipeline(
      name,
      input,
      '{ learningPeriod: 24h }',
      'write: { alerts: true, flows: false, baselines: false }',
    );
    const lines = [
      ...generateTraffic({
        start: START,
        durationMs: 60 * MINUTE,
        rate: 300,
        format: 'json',
        envelope: 'fluent-bit',
        seed: 5,
        attacks: ['gateway-silence'],
        attackStart: SILENT_FROM,
      }),
    ];
    const timeOf = (l: string): number => Date.parse((JSON.parse(l) as { time: string }).time);
    const isGateway = (l: string): boolean => l.includes('"pod_name":"istio-egressgateway');
    // The simulator really drops the gateway's lines in the window, and only there.
    const gatewayTimes = lines.filter(isGateway).map(timeOf);
    expect(gatewayTimes.filter((t) => t >= SILENT_FROM + 10_000 && t < SILENT_TO).length).toBe(0);
    expect(gatewayTimes.filter((t) => t < SILENT_FROM).length).toBeGreaterThan(100);
    expect(gatewayTimes.filter((t) => t >= SILENT_TO + 10_000).length).toBeGreaterThan(100);
    const cut = lines.findIndex((l) => timeOf(l) >= SILENT_FROM + 12 * MINUTE);

    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: input, numPartitions: 4 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    let sent = 0;
    const consumed = async (): Promise<number> => {
      const offsets = await admin.fetchOffsets({ groupId: name, topics: [input] });
      return (offsets[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    };
    // Live, as shippers deliver: a minute of event time at a time, round-robin over the partitions
    // (shippers key by node: no workload's legs are co-located on input), the next once stage 1 has
    // taken it. A whole backlog at once would reach the by-source partitions in blocks of minutes
    // per input partition at this test's low rate (see docs/scale-out.md, limits).
    const produce = async (batch: string[]): Promise<void> => {
      for (let i = 0; i < batch.length; ) {
        const until = timeOf(batch[i] as string) + MINUTE;
        let j = i;
        while (j < batch.length && timeOf(batch[j] as string) < until) j++;
        await producer.send({
          topic: input,
          messages: batch.slice(i, j).map((value) => ({ value, partition: sent++ % 4 })),
        });
        i = j;
        const deadline = Date.now() + 3000;
        while ((await consumed()) < sent && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
      }
    };
    const start = (n: number): ChildProcess => {
      const child = startInstance(config, logs[n] as string[]);
      children.push(child);
      return child;
    };
    const instances = [start(0), start(1)];
    await waitFor(
      () => logs.every((l) => l.join('').includes('Partitions assigned')),
      60_000,
      'both instances to be assigned',
    );
    // Stage 1 too: its group has both members before anything is produced (a first rebalance in
    // the middle of this accelerated backlog would move input partitions by minutes of event time).
    await waitFor(
      async () => {
        const { groups } = await admin.describeGroups([name]);
        return groups[0]?.state === 'Stable' && groups[0]?.members.length === 2;
      },
      60_000,
      'the stage-1 group to be stable with both instances',
    );

    // Up to 12 minutes into the silence: the evaluator must have fired by then.
    await produce(lines.slice(0, cut));
    const alerts = `${name}-alerts*`;
    const firing = await waitFor(
      async () => {
        const found = await gatewaySilenceAlerts(alerts);
        return found.length > 0 ? found : undefined;
      },
      45_000,
      'the gateway-silence alert',
    );
    const describeAll = (a: AlertDoc[]): string =>
      JSON.stringify(
        a.map((x) => [x.alert.status, x.alert.first_seen, x.reason, x.evidence]),
        null,
        1,
      );
    expect(firing, describeAll(firing)).toHaveLength(1);
    expect(firing[0]?.alert.status).toBe('firing');
    expect(firing[0]?.evidence.kind).toBe('mesh-wide');
    expect(firing[0]?.reason).toMatch(/logged nothing/);
    const firstSeen = Date.parse(firing[0]?.alert.first_seen ?? '');
    expect(firstSeen).toBeGreaterThan(SILENT_FROM);
    expect(firstSeen).toBeLessThanOrEqual(SILENT_FROM + 3 * MINUTE);

    // The evaluating instance leaves; the other takes the heartbeat partition and rebuilds.
    const evaluating = logs.findIndex((l) => l.join('').includes('Evaluating gateway silence mesh-wide'));
    expect(evaluating).toBeGreaterThanOrEqual(0);
    const leaving = instances[evaluating] as ChildProcess;
    const survivor = 1 - evaluating;
    leaving.kill('SIGTERM');
    await new Promise((r) => leaving.once('exit', r));
    await produce(lines.slice(cut));

    const resolved = await waitFor(
      async () => {
        const found = await gatewaySilenceAlerts(alerts);
        return found.some((a) => a.alert.status === 'resolved') ? found : undefined;
      },
      45_000,
      'the gateway-silence alert to resolve',
    );
    expect(logs[survivor]?.join('')).toMatch(/Evaluating gateway silence mesh-wide/);
    // Everything through both stages, then nothing else may have appeared.
    await waitFor(async () => (await consumed()) === lines.length, 30_000, 'stage 1 to consume everything');
    await new Promise((r) => setTimeout(r, 3000));
    const final = await gatewaySilenceAlerts(alerts);
    expect(
      final.map((a) => [a.alert.id, a.alert.status]),
      describeAll(final),
    ).toEqual([[firing[0]?.alert.id, 'resolved']]);
    expect(resolved[0]?._id).toBe(firing[0]?._id);
    expect(final[0]?.reason).toMatch(/again \(silent since/);
    await producer.disconnect();
    await admin.disconnect();
  }, 120_000);
});
