/**
 * Two scaled instances in one consumer group; one is SIGKILLed mid-stream. The survivor must take
 * over the dead one's by-source partitions with their baselines restored from the changelog (no
 * new-destination alert for anything learned before the kill), and every alert the traffic
 * should raise must be in Elasticsearch exactly once.
 */
import type { ChildProcess } from 'node:child_process';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { generateTraffic } from '../../src/simulate/generate.js';
import { probeConnection } from '../../src/simulate/probe.js';
import { cleanUpScaled, startInstance, writeScaledPipeline } from './helpers/scaled-instances.js';
import { elasticsearchUrl, kafkaBrokers, uniqueName, waitFor } from './helpers/stack.js';

const MINUTE = 60_000;
const START = Date.parse('2025-03-03T00:00:00.000Z');

/** Where the by-source topic puts a key: the murmur2 partitioner stage 1 produces with. */
function partitionOf(key: string, partitions: number): number {
  const partitioner = Partitioners.DefaultPartitioner();
  return partitioner({
    topic: 'by-source',
    partitionMetadata: Array.from({ length: partitions }, (_, p) => ({
      partitionErrorCode: 0,
      partitionId: p,
      leader: 0,
      replicas: [0],
      isr: [0],
    })),
    message: { key, value: '' },
  });
}

async function esCount(index: string, query: unknown): Promise<number> {
  const res = await fetch(`${elasticsearchUrl()}/${index}/_count`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  if (res.status === 404) return 0;
  return ((await res.json()) as { count: number }).count;
}

async function esSearch(index: string, query: unknown, size = 1000): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${elasticsearchUrl()}/${index}/_search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, size }),
  });
  if (res.status === 404) return [];
  const body = (await res.json()) as { hits: { hits: { _id: string; _source: Record<string, unknown> }[] } };
  return body.hits.hits.map((h) => ({ _id: h._id, ...h._source }));
}

describe('scale-out', () => {
  const children: ChildProcess[] = [];
  const name = uniqueName('scale');
  const input = `${name}-input`;
  const kafka = new Kafka({ clientId: 'scale-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const logs: string[][] = [[], []];
  afterAll(async () => {
    if (process.env.SCALE_TEST_LOGS) for (const l of logs) console.log(l.join(''));
    await cleanUpScaled(kafka, name, children);
  });

  // Skipped at the end of session 4: after the connection join and per-partition watermarks landed,
  // not every probe alerted within 120 s in CI (17:14 UTC). A regression to find first next session.
  it('survives a SIGKILL of one instance with baselines restored and every alert indexed once', async () => {
    const config = writeScaledPipeline(
      name,
      input,
      // 21 of the 24 probes come from app-a: above the flood cap (20 distinct alerts per source and
      // window, issue #15) the rest would fold into one flood alert; this test counts one alert per probe.
      "{ learningPeriod: 30m, flood: { distinctPerSource: 50 }, detectors: { 'new-destination': { learningPeriod: 30m } } }",
    );

    // 100 minutes of mesh traffic: learn for 30, run to 70, kill, then 30 more with probes.
    const lines = [
      ...generateTraffic({
        start: START,
        durationMs: 100 * MINUTE,
        rate: 300,
        format: 'json',
        envelope: 'fluent-bit',
        seed: 7,
        attacks: [],
      }),
    ];
    const timeOf = (l: string): number => Date.parse((JSON.parse(l) as { time: string }).time);
    const cut = lines.findIndex((l) => timeOf(l) >= START + 70 * MINUTE);
    const phaseA = lines.slice(0, cut);
    const phaseB = lines.slice(cut);
    const probes: string[] = [];
    const probeHosts: string[] = [];
    const candidates = phaseB
      .map((l, i) => (probeConnection(l, 'x.example', 0) === null ? -1 : i))
      .filter((i) => i >= 0);
    expect(candidates.length).toBeGreaterThan(100);
    // 24 probes spread evenly over phase B, inserted back to front so indices stay valid.
    const picks = Array.from(
      { length: 24 },
      (_, k) => candidates[Math.floor((k * candidates.length) / 24)] as number,
    );
    for (let k = picks.length - 1; k >= 0; k--) {
      const host = `api.probe-${k}-exfil.net`;
      // Both legs of one connection (the join pairs them at once; a lone sidecar leg would wait).
      const p = probeConnection(phaseB[picks[k] as number] as string, host, k) as [string, string];
      probes.push(p[0]);
      probeHosts.push(host);
      phaseB.splice((picks[k] as number) + 1, 0, ...p);
    }
    expect(probes.length).toBe(24);

    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: input, numPartitions: 4 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    const produce = async (batch: string[]): Promise<void> => {
      for (let i = 0; i < batch.length; i += 2000) {
        // Shippers key by node: round-robin over partitions here, so no identity is co-located.
        await producer.send({
          topic: input,
          messages: batch.slice(i, i + 2000).map((value, j) => ({ value, partition: (i + j) % 4 })),
        });
      }
    };
    await produce(phaseA);

    const start = (n: number): ChildProcess => {
      const child = startInstance(config, logs[n] as string[]);
      children.push(child);
      return child;
    };
    start(0);
    const victim = start(1);
    const committed = async (group: string, topic: string): Promise<bigint> => {
      const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return (offsets[0]?.partitions ?? []).reduce(
        (n, p) => n + (p.offset === '-1' ? 0n : BigInt(p.offset)),
        0n,
      );
    };
    // Both instances own partitions and phase A is through both stages.
    await waitFor(
      () =>
        logs[1]?.join('').includes('Partitions assigned') &&
        logs[0]?.join('').includes('Partitions assigned'),
      60_000,
      'both instances to be assigned',
    );
    await waitFor(
      async () => (await committed(name, input)) === BigInt(phaseA.length),
      90_000,
      'stage 1 to consume phase A',
    );
    // Caught up: every by-source partition reports no lag on the instance that owns it, or has been
    // read to its end already (keyed by namespace, the simulated mesh may leave a partition with
    // stage 1's progress marks only, all read before the rebalance: its new owner gets no batch).
    const ends = await admin.fetchTopicOffsets(`${name}-events-by-source`);
    const bySourcePartitions = ends.map((p) => String(p.partition));
    const readToEnd = async (): Promise<Set<string>> => {
      const done = await admin.fetchOffsets({
        groupId: `${name}-by-source`,
        topics: [`${name}-events-by-source`],
      });
      return new Set(
        (done[0]?.partitions ?? [])
          .filter((c) => c.offset === ends.find((e) => e.partition === c.partition)?.high)
          .map((c) => String(c.partition)),
      );
    };
    const metricsPort = (n: number): string | undefined =>
      /Serving metrics\.[^\n]*port=(\d+)/.exec(logs[n]?.join('') ?? '')?.[1];
    await waitFor(
      async () => {
        const lags = new Map<string, number>();
        for (const n of [0, 1]) {
          const text = await (await fetch(`http://127.0.0.1:${metricsPort(n)}/metrics`)).text();
          for (const m of text.matchAll(
            /consumer_lag_messages\{[^}]*topic="[^"]*events-by-source",partition="(\d+)"[^}]*\} (\d+)/g,
          ))
            lags.set(m[1] as string, Number(m[2]));
        }
        const read = await readToEnd();
        return bySourcePartitions.every((p) => lags.get(p) === 0 || read.has(p));
      },
      90_000,
      'stage 2 to catch up on phase A',
    );
    await new Promise((r) => setTimeout(r, 1500)); // one more checkpoint interval
    const assignments = [
      ...(logs[1]?.join('') ?? '').matchAll(/Partitions assigned\.[^\n]*partitions="?([\d,]+)/g),
    ];
    const ownedByVictim = assignments.at(-1)?.[1];
    expect(ownedByVictim, logs[1]?.join('')).toBeTruthy();

    // The detection group has committed most of phase A: after the kill the survivor replays only the
    // uncommitted tail, so its baselines for the victim's identities (learned in the first 30 of phase
    // A's 70 minutes) can only come from the changelog. A by-source record is one batch of events, and
    // commits stop at the detectors' watermark minus lateness and the open flow minute, so the last
    // records stay uncommitted: 35-44 of 56 records seen committed (62-79 %). The tail replayed must stay
    // clear of the learning period: more than 30/70 committed; 50 % leaves a margin for uneven batches.
    // Commits follow the watermark on a timer, so poll for a few checkpoint intervals.
    const bySource = `${name}-events-by-source`;
    let committedTotal = 0;
    let total = 0;
    const committedShare = async (): Promise<number> => {
      const high = await admin.fetchTopicOffsets(bySource);
      const done = await admin.fetchOffsets({ groupId: `${name}-by-source`, topics: [bySource] });
      total = high.reduce((n, p) => n + Number(p.high), 0);
      committedTotal = (done[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      return total > 0 ? committedTotal / total : 0;
    };
    await waitFor(
      async () => (await committedShare()) > 0.5,
      30_000,
      'stage 2 to commit most of phase A',
      500,
    ).catch(() => undefined);
    expect(committedTotal / total, `committed ${committedTotal} of ${total}`).toBeGreaterThan(0.5);

    victim.kill('SIGKILL');
    await produce(phaseB);

    // Every probe alerts exactly once, including those whose identities the victim owned.
    const alerts = `${name}-alerts*`;
    const probeQuery = {
      bool: {
        filter: [
          { term: { 'rule.id': 'new-destination' } },
          { wildcard: { 'destination.registered_domain': 'probe-*' } },
        ],
      },
    };
    await waitFor(
      async () => (await esCount(alerts, probeQuery)) >= probes.length,
      120_000,
      'an alert for every probe',
    );
    await new Promise((r) => setTimeout(r, 3000));
    await fetch(`${elasticsearchUrl()}/${alerts}/_refresh`, { method: 'POST' });
    const probeAlerts = await esSearch(alerts, probeQuery);
    const byDomain = new Map<string, number>();
    for (const a of probeAlerts) {
      const d = (a.destination as { registered_domain: string }).registered_domain;
      byDomain.set(d, (byDomain.get(d) ?? 0) + 1);
    }
    expect([...byDomain.keys()].sort()).toEqual(probeHosts.map((h) => h.slice(4)).sort());
    expect([...byDomain.values()].every((n) => n === 1)).toBe(true);
    const ids = probeAlerts.map((a) => (a.alert as { id: string }).id);
    expect(new Set(ids).size).toBe(ids.length);
    // Some probes came from identities on the victim's partitions: their alerts prove the survivor
    // restored the learning clock and per-identity history (a fresh state would still be learning
    // for 30 minutes, i.e. the rest of phase B, and raise nothing).
    const victimPartitions = new Set((ownedByVictim as string).split(',').map(Number));
    const identityOf = (a: Record<string, unknown>): string =>
      ((a.evidence as { dedupKey: string }).dedupKey.split(' -> ')[0] as string) ?? '';
    // By-source messages are keyed by the source's namespace (scale.partitionBy: namespace).
    const namespaceOf = (identity: string): string => identity.split('/')[0] as string;
    const takenOver = probeAlerts.filter((a) =>
      victimPartitions.has(partitionOf(namespaceOf(identityOf(a)), 4)),
    );
    expect(takenOver.length).toBeGreaterThan(0);

    // No re-learning flood: nothing learned before the kill is "new" afterwards.
    const relearned = await esSearch(alerts, {
      bool: {
        filter: [
          { term: { 'rule.id': 'new-destination' } },
          { range: { '@timestamp': { gte: new Date(START + 70 * MINUTE).toISOString() } } },
        ],
        must_not: [{ wildcard: { 'destination.registered_domain': 'probe-*' } }],
      },
    });
    expect(relearned.map((a) => a.reason)).toEqual([]);
    const survivor = logs[0]?.join('') ?? '';
    expect(survivor).toMatch(/Restored partition state from the changelog\.[^\n]*identities=[1-9]/);
    await producer.disconnect();
    await admin.disconnect();
  }, 240_000);
});
