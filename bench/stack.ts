/**
 * `npm run bench:stack [-- --json] [-- --instances 1,2 --backlog 300000 --rate 5000 --seconds 15 --partition-by namespace --show-silence]`
 *
 * Drives the real broker and Elasticsearch (KAFKA_BROKERS / ELASTICSEARCH_URL, default the local
 * stack) with simulated mesh traffic through `egress-sentinel run` instances with `scale.enabled`,
 * writing alerts, flow summaries and baselines to Elasticsearch. Per run:
 *
 * 1. Throughput: `--backlog` lines are produced to a fresh 4-partition input topic before the
 *    instances start; eventsPerSec = those lines / the time from the first line consumed to the
 *    last event through stage 2 (decode, re-key, detect, deliver), from the instances' /metrics.
 * 2. Alert latency: the traffic continues at `--rate` lines/s for `--seconds`, with a probe (a
 *    connection to a never-seen domain, its sidecar and gateway legs, which new-destination alerts
 *    on) every 250 ms; latency =
 *    probe produced -> its alert visible in Elasticsearch (polled every 100 ms with a refresh of
 *    the small alerts index, so ~100 ms resolution).
 * 3. rssMb: the largest resident set of one instance, sampled every 250 ms.
 *
 * Then the same single-instance run with every raw event indexed too (`--no-raw` skips it).
 * Per-stage wall time (stage-1 re-key vs stage-2 detect+deliver) and the instances' CPU use say
 * what bounds the rate. Noisy on a shared 2-core box: Kafka, Elasticsearch and the bench share it.
 * `BENCH_INSTANCE_NODE_ARGS` adds node options to the instances (NODE_OPTIONS refuses --cpu-prof).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { DEFAULT_KAFKA_BROKERS } from '../src/config/defaults.js';
import { generateTraffic } from '../src/simulate/generate.js';
import { probeConnection } from '../src/simulate/probe.js';
import { requireStack } from './preflight.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    instances: { type: 'string', default: '1,2' },
    backlog: { type: 'string', default: '300000' },
    rate: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '15' },
    'no-raw': { type: 'boolean', default: false },
    'partition-by': { type: 'string', default: 'namespace' },
    /** Prints each gateway-silence alert (time, client, reason) to stderr: what the rule fired on. */
    'show-silence': { type: 'boolean', default: false },
  },
});
const BROKERS = (process.env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS).split(',');
const ES = (process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200').replace(/\/$/, '');
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PARTITIONS = 4;
const START = Date.parse('2025-03-03T06:00:00.000Z');
/** Extra node options for the instances, e.g. `BENCH_INSTANCE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p"`. */
const INSTANCE_NODE_ARGS = (process.env.BENCH_INSTANCE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
await requireStack('bench:stack', { kafka: BROKERS, elasticsearch: ES });
const kafka = new Kafka({ clientId: 'bench-stack', brokers: BROKERS, logLevel: logLevel.NOTHING });

interface RunResult {
  instances: number;
  rawEventsIndexed: boolean;
  eventsPerSec: number;
  egressEventsPerSec: number;
  alertLatencyP50Ms: number | null;
  alertLatencyP99Ms: number | null;
  probes: number;
  probesAlerted: number;
  latencyPhaseLinesPerSec: number;
  rssMb: number;
  /** Wall seconds per 1,000 lines in each stage's batches, summed over instances. */
  rekeyMsPer1kLines: number;
  detectDeliverMsPer1kLines: number;
  /** CPU seconds of the instances per wall second during the throughput phase (2 = both cores). */
  instanceCpuCores: number;
  /** Instance CPU time per 1,000 input lines in the throughput phase: the cost with a core to itself. */
  cpuMsPer1kLines: number;
  /** Alerts in Elasticsearch at the end, by rule (the traffic has no attacks besides the probes). */
  alertsByRule: Record<string, number>;
  /** gateway-silence alerts by evidence.kind (mesh-wide, unaccounted-gateway-legs, no-principal). */
  gatewaySilenceByKind: Record<string, number>;
  /** Events dead-lettered as late, and late legs joined to their connection's waiting leg instead (all instances). */
  lateEvents: number;
  lateLegsJoined: number;
}

const say = (msg: string): void => {
  if (!values.json) process.stderr.write(`[bench:stack] ${msg}\n`);
};

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

interface Sample {
  lines: number;
  /** Events stage 1 produced to the by-source topic. */
  rekeyedEvents: number;
  stage2Events: number;
  rekeySeconds: number;
  detectSeconds: number;
  lateEvents: number;
  lateLegsJoined: number;
}

function parseMetrics(text: string, into: Sample): void {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('egress_sentinel_lines_received_total')) into.lines += value;
    else if (line.startsWith('egress_sentinel_rekeyed_events_total')) into.rekeyedEvents += value;
    else if (line.startsWith('egress_sentinel_events_received_total')) into.stage2Events += value;
    else if (line.startsWith('egress_sentinel_late_events_total')) into.lateEvents += value;
    else if (line.startsWith('egress_sentinel_late_legs_joined_total')) into.lateLegsJoined += value;
    else if (line.startsWith('egress_sentinel_batch_duration_seconds_sum')) {
      if (line.includes('stage="rekey"')) into.rekeySeconds += value;
      else if (line.includes('stage="detect"')) into.detectSeconds += value;
    }
  }
}

function procStats(pid: number): { rssMb: number; cpuSeconds: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    return { rssMb: rss, cpuSeconds: ticks / 100 };
  } catch {
    return { rssMb: 0, cpuSeconds: 0 };
  }
}

/** The broker refuses requests over 1 MiB: ~1.7 KB lines go 400 to a request, requests in parallel. */
async function send(producer: Producer, topic: string, messages: { key: string; value: string }[]) {
  const requests: Promise<unknown>[] = [];
  for (let i = 0; i < messages.length; i += 400)
    requests.push(producer.send({ topic, messages: messages.slice(i, i + 400) }));
  await Promise.all(requests);
}

async function es(path: string, body?: unknown, method = 'POST'): Promise<Response> {
  return fetch(`${ES}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function benchRun(instances: number, raw: boolean): Promise<RunResult> {
  const name = `bench-stack-${Date.now().toString(36)}-${instances}${raw ? 'r' : ''}`;
  const input = `${name}-input`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-stack-'));
  const config = join(dir, 'pipeline.yaml');
  writeFileSync(
    config,
    [
      `name: ${name}`,
      'sources:',
      `  - { type: kafka, connection: { brokers: [${BROKERS.join(',')}] }, groupId: ${name}, topics: [${input}], fromBeginning: true, sessionTimeoutMs: 10000 }`,
      'sinks:',
      `  - { type: elasticsearch, connection: { url: "${ES}" }, indexPrefix: ${name}, write: { alerts: true, flows: true, baselines: true, events: ${raw} } }`,
      `scale: { enabled: true, partitions: ${PARTITIONS}, commitIntervalMs: 1000, partitionBy: ${values['partition-by']} }`,
      'metrics: { enabled: true, host: 127.0.0.1, port: 0 }',
      `delivery: { deadLetterFile: ${join(dir, 'dead.jsonl')} }`,
      // Every probe is a new host of the same few sources: above the flood cap (20 distinct alerts per
      // source and window, issue #15) they would fold into one alert and go uncounted as probes.
      "detection: { learningPeriod: 5m, flood: { distinctPerSource: 1000 }, detectors: { 'new-destination': { learningPeriod: 5m } } }",
      '',
    ].join('\n'),
  );

  const backlog = Number(values.backlog);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const traffic = generateTraffic({
    start: START,
    durationMs: 48 * 3_600_000,
    rate: 30_000,
    format: 'json',
    envelope: 'fluent-bit',
    seed: 7,
    attacks: [],
  })
    .messages()
    [Symbol.iterator]();

  const admin = kafka.admin();
  await admin.connect();
  const children: ChildProcess[] = [];
  try {
    await admin.createTopics({
      topics: [{ topic: input, numPartitions: PARTITIONS }],
      waitForLeaders: true,
    });
    const producer = kafka.producer();
    await producer.connect();
    say(`${name}: producing a backlog of ${backlog} lines`);
    let chunk: { key: string; value: string }[] = [];
    for (let i = 0; i < backlog; i++) {
      chunk.push(traffic.next().value as { key: string; value: string });
      if (chunk.length === 2000) {
        await send(producer, input, chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) await send(producer, input, chunk);
    // The latency phase's lines, generated now so the generator does not compete with the instances.
    const paced: { key: string; value: string }[] = [];
    for (let i = 0; i < rate * seconds; i++)
      paced.push(traffic.next().value as { key: string; value: string });

    const ports: (string | undefined)[] = [];
    const logs: string[] = [];
    for (let n = 0; n < instances; n++) {
      const child = spawn(process.execPath, [...INSTANCE_NODE_ARGS, CLI, 'run', '--config', config], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      child.stderr?.on('data', (d: Buffer) => {
        log += d.toString();
        logs[n] = log;
        ports[n] ??= /Serving metrics\.[^\n]*port=(\d+)/.exec(log)?.[1];
        if (log.length > 1_000_000) log = log.slice(-100_000);
      });
      children.push(child);
    }
    const sample = async (): Promise<Sample> => {
      const s: Sample = {
        lines: 0,
        rekeyedEvents: 0,
        stage2Events: 0,
        rekeySeconds: 0,
        detectSeconds: 0,
        lateEvents: 0,
        lateLegsJoined: 0,
      };
      for (const port of ports) {
        if (port === undefined) continue;
        const text = await fetch(`http://127.0.0.1:${port}/metrics`)
          .then((r) => r.text())
          .catch(() => ''); // an instance that died is reported below, with its log
        parseMetrics(text, s);
      }
      return s;
    };
    let rssMb = 0;
    const cpu = (): number => children.reduce((t, c) => t + procStats(c.pid as number).cpuSeconds, 0);
    const rssTimer = setInterval(() => {
      for (const c of children) rssMb = Math.max(rssMb, procStats(c.pid as number).rssMb);
    }, 250);

    // ---- throughput: drain the backlog
    let first: { at: number; cpu: number; s: Sample } | null = null;
    let last: Sample;
    const deadline = Date.now() + 120_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      last = await sample();
      if (first === null && last.lines > 0) first = { at: Date.now(), cpu: cpu(), s: last };
      // Stage 1 has produced every event (it counts lines once the broker acknowledged their
      // events): stage 2 is done when it has read them all.
      if (last.lines >= backlog && last.stage2Events >= last.rekeyedEvents) break;
      const dead = children.findIndex((c) => c.exitCode !== null);
      if (dead >= 0 || Date.now() > deadline)
        throw new Error(
          `${name}: backlog not drained (${JSON.stringify(last)}); instance ${dead} log:\n${(logs[Math.max(0, dead)] ?? '').slice(-3000)}`,
        );
    }
    const drainedAt = Date.now();
    const f = first as { at: number; cpu: number; s: Sample };
    const drainSeconds = (drainedAt - f.at) / 1000 + 0.25; // the first batch landed before the first sample
    const lines = last.lines;
    const result: RunResult = {
      instances,
      rawEventsIndexed: raw,
      eventsPerSec: Math.round(lines / drainSeconds),
      egressEventsPerSec: Math.round(last.stage2Events / drainSeconds),
      alertLatencyP50Ms: null,
      alertLatencyP99Ms: null,
      probes: 0,
      probesAlerted: 0,
      latencyPhaseLinesPerSec: 0,
      rssMb: 0,
      rekeyMsPer1kLines: Number(((last.rekeySeconds * 1e6) / lines).toFixed(1)),
      detectDeliverMsPer1kLines: Number(((last.detectSeconds * 1e6) / lines).toFixed(1)),
      alertsByRule: {},
      gatewaySilenceByKind: {},
      lateEvents: 0,
      lateLegsJoined: 0,
      cpuMsPer1kLines: Number((((cpu() - f.cpu) * 1e6) / (lines - f.s.lines)).toFixed(1)),
      instanceCpuCores: Number(((cpu() - f.cpu) / (drainedAt / 1000 - f.at / 1000)).toFixed(2)),
    };
    say(`${name}: ${lines} lines in ${drainSeconds.toFixed(1)} s = ${result.eventsPerSec} lines/s`);

    // ---- latency: paced traffic with probes
    const produced = new Map<string, number>();
    const seen = new Map<string, number>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await es(`/${name}-alerts*/_refresh`).catch(() => {});
        const res = await es(`/${name}-alerts*/_search`, {
          size: 10_000,
          _source: ['destination.registered_domain'],
          query: {
            bool: {
              filter: [
                { term: { 'rule.id': 'new-destination' } },
                { wildcard: { 'destination.registered_domain': 'probe-*' } },
              ],
            },
          },
        }).catch(() => null);
        const now = Date.now();
        if (res?.ok) {
          const body = (await res.json()) as {
            hits: { hits: { _source: { destination: { registered_domain: string } } }[] };
          };
          for (const h of body.hits.hits) {
            const d = h._source.destination.registered_domain;
            if (!seen.has(d)) seen.set(d, now);
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const phaseStart = Date.now();
    const tick = 100;
    const perTick = Math.max(1, Math.round((rate * tick) / 1000));
    let probe = 0;
    const inFlight = new Set<Promise<void>>();
    let nextProbe = phaseStart;
    for (let i = 0; i < paced.length; i += perTick) {
      const due = phaseStart + (i / perTick) * tick;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const batch = paced.slice(i, i + perTick);
      // No probe in the last second: its alert would wait for later traffic to pass the lateness.
      if (Date.now() >= nextProbe && i < paced.length - rate) {
        for (const m of batch) {
          const domain = `probe-${probe}-${name}.net`;
          // Both legs of one connection: detection joins them at once (a lone sidecar leg would wait
          // out the join's tolerance for its gateway leg).
          const p = probeConnection(m.value, `api.${domain}`, probe);
          if (p === null) continue;
          batch.push({ key: m.key, value: p[0] }, { key: 'istio-egressgateway-probe', value: p[1] });
          produced.set(domain, Date.now());
          probe++;
          nextProbe += 250;
          break;
        }
      }
      // Not awaited: a slow acknowledgement must not slow the pace (a few ticks may be in flight).
      const sending = send(producer, input, batch);
      inFlight.add(sending);
      sending.finally(() => inFlight.delete(sending));
      if (inFlight.size > 20) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const phaseSeconds = (Date.now() - phaseStart) / 1000;
    result.latencyPhaseLinesPerSec = Math.round(paced.length / phaseSeconds);
    const waitUntil = Date.now() + 30_000;
    while (seen.size < produced.size && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 200));
    polling = false;
    await poller;
    clearInterval(rssTimer);
    const latencies = [...produced]
      .filter(([d]) => seen.has(d))
      .map(([d, t]) => (seen.get(d) as number) - t)
      .sort((a, b) => a - b);
    result.probes = produced.size;
    result.probesAlerted = latencies.length;
    result.alertLatencyP50Ms = percentile(latencies, 50);
    result.alertLatencyP99Ms = percentile(latencies, 99);
    result.rssMb = Math.round(rssMb);
    const end = await sample();
    result.lateEvents = end.lateEvents;
    result.lateLegsJoined = end.lateLegsJoined;
    const agg = await es(`/${name}-alerts*/_search`, {
      size: 0,
      aggs: { rules: { terms: { field: 'rule.id', size: 20 } } },
    });
    const buckets = agg.ok
      ? ((await agg.json()) as { aggregations: { rules: { buckets: { key: string; doc_count: number }[] } } })
          .aggregations.rules.buckets
      : [];
    result.alertsByRule = Object.fromEntries(buckets.map((b) => [b.key, b.doc_count]));
    const silence = await es(`/${name}-alerts*/_search`, {
      size: 1000,
      _source: values['show-silence'] ? true : ['evidence.kind'],
      query: { term: { 'rule.id': 'gateway-silence' } },
    });
    if (silence.ok) {
      const hits = (
        (await silence.json()) as { hits: { hits: { _source: { evidence?: { kind?: string } } }[] } }
      ).hits.hits;
      for (const h of hits) {
        if (values['show-silence']) say(`${name}: gateway-silence alert ${JSON.stringify(h._source)}`);
        const kind = h._source.evidence?.kind ?? 'partition-silence';
        result.gatewaySilenceByKind[kind] = (result.gatewaySilenceByKind[kind] ?? 0) + 1;
      }
    }
    if (values['show-silence'])
      for (const [n, log] of logs.entries()) {
        writeFileSync(join(dir, `instance-${n}.log`), log ?? '');
        say(`${name}: instance ${n} log in ${join(dir, `instance-${n}.log`)}`);
      }
    await producer.disconnect();
    return result;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) resolve();
            c.on('exit', () => resolve());
            setTimeout(() => {
              c.kill('SIGKILL');
              resolve();
            }, 15_000).unref();
          }),
      ),
    );
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(name));
    await admin.deleteTopics({ topics: mine }).catch(() => {});
    await admin.disconnect();
    await es(`/_data_stream/${name}-*`, undefined, 'DELETE').catch(() => {});
    await es(`/${name}-*`, undefined, 'DELETE').catch(() => {});
  }
}

const runs: [number, boolean][] = values.instances.split(',').map((n) => [Number(n), false]);
if (!values['no-raw']) runs.push([1, true]);
for (const [instances, raw] of runs) {
  const r = await benchRun(instances, raw);
  if (values.json) {
    console.log(JSON.stringify(r));
  } else {
    console.log(
      `${r.instances} instance(s)${r.rawEventsIndexed ? ', every raw event indexed too' : ''}: ` +
        `${r.eventsPerSec} lines/s (${r.egressEventsPerSec} egress events/s) with alerts, flows and baselines indexed; ` +
        `alert latency p50 ${r.alertLatencyP50Ms} ms, p99 ${r.alertLatencyP99Ms} ms ` +
        `(${r.probesAlerted}/${r.probes} probes alerted at ${r.latencyPhaseLinesPerSec} lines/s); ` +
        `RSS ${r.rssMb} MB/instance; stage time per 1k lines: re-key ${r.rekeyMsPer1kLines} ms, ` +
        `detect+deliver ${r.detectDeliverMsPer1kLines} ms; instances used ${r.instanceCpuCores} cores, ${r.cpuMsPer1kLines} CPU ms per 1k lines; alerts by rule ${JSON.stringify(r.alertsByRule)}, gateway-silence by kind ${JSON.stringify(r.gatewaySilenceByKind)}; late events dead-lettered ${r.lateEvents}, late legs joined ${r.lateLegsJoined}`,
    );
  }
}
