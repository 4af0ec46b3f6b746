import { describe, expect, it } from 'vitest';
import { FlowAggregator } from '../../src/detect/flows.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { runPipeline } from '../../src/pipeline/loop.js';
import type { Sink, SinkBatch } from '../../src/sinks/types.js';
import type { LineBatch, Source } from '../../src/sources/types.js';
import { syntheticStages } from '../helpers/stages.js';
import { makeAlert } from '../sinks/helpers.js';

const T0 = Date.UTC(2025, 2, 1, 10, 0, 0);

/** Lines are "<epoch ms>" or "<epoch ms> alert"; the log records acks and writes in order. */
function setup(batches: string[][], log: string[]) {
  const source: Source = {
    name: 'test',
    async *batches(signal: AbortSignal) {
      for (const [i, lines] of batches.entries()) {
        if (signal.aborted) return;
        const b: LineBatch = {
          source: 'test',
          lines,
          position: (j) => `${i}/${j}`,
          ack: async () => {
            log.push(`ack ${i}`);
          },
        };
        yield b;
      }
    },
    close: async () => {},
  };
  const event = (line: string, origin: string): EgressEvent => ({
    time: Number(line.split(' ')[0]),
    reporter: 'sidecar',
    protocol: 'http',
    path: 'passthrough',
    cluster: 'PassthroughCluster',
    bytesUp: 1,
    bytesDown: 2,
    durationMs: 1,
    responseCode: 200,
    responseFlags: '-',
    requestId: null,
    method: 'GET',
    httpPath: '/',
    source: {
      principal: null,
      namespace: 'a',
      workload: 'b',
      pod: null,
      ip: null,
      attribution: 'metadata',
      key: 'a/b',
    },
    destination: { host: 'x.com', registeredDomain: 'x.com', ip: null, port: 443, external: true },
    origin,
  });
  const stages = syntheticStages(
    (line, origin) => event(line, origin),
    (line, origin) => (line.endsWith('alert') ? makeAlert({ id: `alert-${origin}` }) : null),
  );
  return { source, stages };
}

function recordingSink(name: string, log: string[], failTimes = 0): Sink & { batches: SinkBatch[] } {
  let failures = failTimes;
  const batches: SinkBatch[] = [];
  return {
    name,
    batches,
    start: async () => {},
    close: async () => {},
    write: async (b) => {
      if (failures > 0) {
        failures--;
        log.push(`${name} fail`);
        throw new Error('down');
      }
      batches.push(b);
      log.push(`${name} ${b.alerts.map((a) => a.alert.id).join(',')}|${b.flows.length}`);
    },
  };
}

const opts = { retryInitialMs: 2, retryMaxMs: 5, log: () => {}, deadLetters: async () => {} };

describe('runPipeline', () => {
  it('acks a batch only after every sink accepted it, retrying only the sink that failed', async () => {
    const log: string[] = [];
    const { source, stages } = setup([[`${T0} alert`], [`${T0 + 1} alert`]], log);
    const good = recordingSink('good', log);
    const flaky = recordingSink('flaky', log, 2);
    const summary = await runPipeline({
      ...opts,
      sources: [source],
      ...stages,
      sinks: [good, flaky],
      flows: null,
      holdAcks: false,
      shutdown: new AbortController().signal,
      stop: new AbortController().signal,
    });
    expect(log).toEqual([
      'good alert-0/0|0',
      'flaky fail',
      'flaky fail',
      'flaky alert-0/0|0',
      'ack 0',
      'good alert-1/0|0',
      'flaky alert-1/0|0',
      'ack 1',
    ]);
    expect(summary).toMatchObject({ batches: 2, alerts: 2, completed: true, unacked: 0 });
  });

  it('holds acks until the flow minutes a batch fed are written, and keeps them in order', async () => {
    const log: string[] = [];
    const { source, stages } = setup(
      [[`${T0 + 1000}`], [`${T0 + 30_000}`], [`${T0 + 61_000}`], [`${T0 + 125_000}`]],
      log,
    );
    const sink = recordingSink('s', log);
    const flows = new FlowAggregator({ allowedLatenessMs: 0, snapshotIntervalMs: 0, baselineTtlMs: 1e9 });
    await runPipeline({
      ...opts,
      sources: [source],
      ...stages,
      sinks: [sink],
      flows,
      holdAcks: true,
      shutdown: new AbortController().signal,
      stop: new AbortController().signal,
    });
    // Minute 0 closes with batch 2 (its summary is written with it), so batches 0 and 1 are acked then.
    expect(log).toEqual(['s |1', 'ack 0', 'ack 1', 's |1', 'ack 2', 's |1', 'ack 3']);
  });

  it('on shutdown finishes the batch in flight, commits only complete minutes and leaves the rest for the replay', async () => {
    const log: string[] = [];
    const shutdown = new AbortController();
    const { source, stages } = setup([[`${T0 + 1000} alert`], [`${T0 + 61_000}`], [`${T0 + 62_000}`]], log);
    const sink = recordingSink('s', log);
    const origWrite = sink.write;
    sink.write = async (b) => {
      await origWrite(b);
      if (log.filter((l) => l.startsWith('s ')).length === 2) shutdown.abort();
    };
    const summary = await runPipeline({
      ...opts,
      sources: [source],
      ...stages,
      sinks: [sink],
      flows: new FlowAggregator({ allowedLatenessMs: 0, snapshotIntervalMs: 0, baselineTtlMs: 1e9 }),
      holdAcks: true,
      shutdown: shutdown.signal,
      stop: new AbortController().signal,
    });
    expect(log).toEqual(['s alert-0/0|0', 's |1', 'ack 0']);
    expect(summary).toMatchObject({ batches: 2, completed: false, unacked: 1 });
  });

  it('gives up on the batch in flight only on a hard stop, without acking it', async () => {
    const log: string[] = [];
    const stop = new AbortController();
    const { source, stages } = setup([[`${T0} alert`]], log);
    const sink = recordingSink('down', log, 1_000_000);
    const write = sink.write;
    sink.write = async (b) => {
      // The hard stop comes after the fourth failed attempt.
      if (log.length === 3) stop.abort();
      return write(b);
    };
    await expect(
      runPipeline({
        ...opts,
        sources: [source],
        ...stages,
        sinks: [sink],
        flows: null,
        holdAcks: false,
        shutdown: new AbortController().signal,
        stop: stop.signal,
      }),
    ).rejects.toThrow(/not accepted by: down/);
    expect(log).not.toContain('ack 0');
    expect(log).toEqual(['down fail', 'down fail', 'down fail', 'down fail']);
  });

  it('holds acks until the detectors have seen the batch’s events (their watermark passed them)', async () => {
    const log: string[] = [];
    const { source, stages } = setup([[`${T0}`], [`${T0 + 5_000}`], [`${T0 + 20_000}`]], log);
    let maxSeen = Number.NEGATIVE_INFINITY;
    const watching = {
      ingest: {
        read: ((b, onEvent) => {
          log.push(`process ${b.position(0)}`);
          return stages.ingest.read(b, (e, raw) => {
            maxSeen = Math.max(maxSeen, e.time);
            onEvent(e, raw);
          });
        }) satisfies typeof stages.ingest.read,
      },
      // Like the engine: events are analysed once 10 s of later event time arrived.
      detection: { ...stages.detection, watermark: () => maxSeen - 10_000 },
    };
    await runPipeline({
      ...opts,
      sources: [source],
      ...watching,
      sinks: [],
      flows: null,
      holdAcks: true,
      shutdown: new AbortController().signal,
      stop: new AbortController().signal,
    });
    // Batch 0 (T0) and 1 (T0+5s) are analysed when T0+20s arrives; batch 2 only at the end of input.
    expect(log).toEqual(['process 0/0', 'process 1/0', 'process 2/0', 'ack 0', 'ack 1', 'ack 2']);
  });

  it('holds each input partition’s acks on their own: a partition ahead does not hold back a slow one', async () => {
    const log: string[] = [];
    // Batch 0 is partition "a", ten minutes ahead; batches 1 and 2 are partition "b".
    const { source, stages } = setup([[`${T0 + 600_000}`], [`${T0}`], [`${T0 + 1_000}`]], log);
    const streams = ['in/a', 'in/b', 'in/b'];
    const shutdown = new AbortController();
    const partitioned: Source = {
      ...source,
      async *batches(signal) {
        let i = 0;
        for await (const b of source.batches(signal))
          yield { ...b, position: b.position, stream: streams[i++] };
        shutdown.abort(); // stopped before the input's end: nothing is acked for the end of input
      },
    };
    // The slowest partition ("b", at T0 + 1 s) holds the watermark.
    const summary = await runPipeline({
      ...opts,
      sources: [partitioned],
      ingest: stages.ingest,
      detection: { ...stages.detection, watermark: () => T0 + 1_000 },
      sinks: [],
      flows: null,
      holdAcks: true,
      shutdown: shutdown.signal,
      stop: new AbortController().signal,
    });
    expect(log).toEqual(['ack 1', 'ack 2']);
    expect(summary.unacked).toBe(1);
  });

  it('logs a failed commit and carries on (the batch is redelivered to the partition owner)', async () => {
    const log: string[] = [];
    const warnings: string[] = [];
    const { source, stages } = setup([[`${T0} alert`], [`${T0 + 1}`]], log);
    const failingFirstAck: Source = {
      ...source,
      async *batches(signal) {
        let first = true;
        for await (const b of source.batches(signal)) {
          if (first) {
            first = false;
            yield {
              ...b,
              position: b.position,
              ack: async () => Promise.reject(new Error('rebalance in progress')),
            };
          } else yield b;
        }
      },
    };
    const summary = await runPipeline({
      ...opts,
      log: (_level, message, fields) => warnings.push(`${message} ${String(fields?.error)}`),
      sources: [failingFirstAck],
      ...stages,
      sinks: [recordingSink('s', log)],
      flows: null,
      holdAcks: false,
      shutdown: new AbortController().signal,
      stop: new AbortController().signal,
    });
    expect(summary.completed).toBe(true);
    expect(log).toContain('ack 1');
    expect(warnings).toContain('Acknowledging a batch failed; it will be redelivered. rebalance in progress');
  });
});
