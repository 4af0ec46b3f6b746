/**
 * Stage 1 of a scaled run: the input topic -> the Ingest stage (decode, normalise, egress filter;
 * rekey.ts) -> one by-source record per batch and partition, keyed so that every event of an
 * identity lands on one by-source partition. Stateless: it commits its input once the by-source
 * topic acknowledged the events. Besides the events it sends progress marks: where each input
 * partition it reads stands (by-source-records.ts), which stage 2 holds its watermark on.
 */
import type { Message, Producer } from 'kafkajs';
import type { DeadLetter } from '../dead-letter.js';
import type { PipelineMetrics } from '../observability/metrics.js';
import type { Telemetry } from '../observability/telemetry.js';
import { countRead } from '../pipeline/ingest.js';
import type { LogFn } from '../sinks/types.js';
import type { KafkaSource } from '../sources/kafka.js';
import { type BySourceRecords, MARK_INTERVAL_MS, unreadMark } from './by-source-records.js';
import type { Rekeyer } from './rekey.js';

/** Stage-1 batches whose events may be on their way to the broker at once. */
const STAGE1_IN_FLIGHT = 4;

export interface Stage1Options {
  source: KafkaSource;
  rekeyer: Rekeyer;
  bySourceRecords: BySourceRecords;
  producer: Producer;
  /** The by-source topic. */
  topic: string;
  shutdown: AbortSignal;
  deadLetters: (letters: readonly DeadLetter[]) => Promise<void>;
  telemetry: Telemetry;
  metrics: PipelineMetrics;
  log: LogFn;
  /** Told of each batch once its events are on the by-source topic. */
  onRead: (lines: number, events: number) => void;
}

/** Reads the input until `shutdown` (or a failure: thrown), then closes the source. */
export async function runStage1(o: Stage1Options): Promise<void> {
  const { source, rekeyer, bySourceRecords, producer } = o;
  // Input partitions this instance was assigned but has not read yet: every by-source partition
  // waits for them (their first lines may be minutes of event time behind what others sent).
  let marksFailing = false;
  const unreadMarks = setInterval(() => {
    const messages: Message[] = [];
    for (const stream of source.unreadStreams())
      messages.push(...bySourceRecords.records([], unreadMark(stream)));
    // Assigned with nothing to read: caught up (sent once per partition, when the flag changes).
    for (const stream of source.emptyStreams()) {
      const readTo = source.emptyStreamPosition(stream);
      messages.push(...bySourceRecords.records([], { ...unreadMark(stream), caughtUp: true, readTo }));
    }
    // Read positions of caught-up partitions not told yet (marks go with batches at most every interval).
    messages.push(...bySourceRecords.due());
    // Events waiting behind a gateway's inner leg whose quiet input partition did not deliver its outer leg (hop-pairing.ts).
    const released = rekeyer.releaseHeld();
    if (released.messages.length > 0) messages.push(...bySourceRecords.records(released.messages));
    if (messages.length === 0) return;
    producer.send({ topic: o.topic, acks: -1, messages }).then(
      () => {
        marksFailing = false;
        for (const g of released.gates) g.sent();
      },
      (err: unknown) => {
        // Sent again at the next interval; said once per failing spell.
        if (!marksFailing)
          o.log('warn', 'Could not send progress marks for unread input partitions; retrying.', {
            topic: o.topic,
            error: String(err),
          });
        marksFailing = true;
      },
    );
  }, MARK_INTERVAL_MS);
  unreadMarks.unref();
  // Batches are pipelined: while one batch's events travel to the broker (acks=all), the next is
  // decoded. The source commits each input partition in order, whatever order the acks come in.
  const inFlight = new Set<Promise<void>>();
  // Acks of batches whose events wait behind an inner leg (hop-pairing.ts): each waits for them to be sent.
  const heldAcks = new Set<Promise<void>>();
  let sendFailure: unknown = null;
  try {
    for await (const batch of source.batches(o.shutdown)) {
      if (sendFailure !== null) throw sendFailure;
      const started = process.hrtime.bigint();
      const out = rekeyer.rekey(batch.lines, batch.source, (i) => batch.position(i));
      const read = rekeyer.progress;
      const progress =
        read === null ? null : { ...read, caughtUp: batch.caughtUp === true, readTo: batch.readTo };
      // Assigned input partitions not read yet go first, in the same send: a by-source partition must
      // hear of them before this batch's events (the timer alone comes too late at start-up).
      const records: Message[] = [];
      for (const stream of source.unreadStreams())
        if (stream !== batch.stream) records.push(...bySourceRecords.records([], unreadMark(stream)));
      records.push(...bySourceRecords.records(out.messages, progress));
      const delivery = (async () => {
        if (records.length > 0) await producer.send({ topic: o.topic, acks: -1, messages: records });
        for (const g of out.gates) g.sent();
        if (progress !== null) bySourceRecords.delivered(progress);
        if (out.deadLetters.length > 0) await o.deadLetters(out.deadLetters);
        countRead(o.telemetry, source.name, out);
        o.metrics.recordComponents(o.telemetry);
        o.metrics.countBatch(batch.source, out.lines, 0, out.deadLetters.length, out.skipped);
        o.metrics.setInputLag(batch.lag);
        o.metrics.rekeyedEvents.inc(out.events);
        o.onRead(out.lines, out.events);
        const held = out.held;
        if (held === null) await batch.ack();
        else {
          // Not before its waiting events are on the broker: the committed offset never passes one.
          const ack = held.released.then(() => batch.ack());
          heldAcks.add(ack);
          ack.then(
            () => heldAcks.delete(ack),
            (err: unknown) => {
              sendFailure ??= err;
              heldAcks.delete(ack);
            },
          );
        }
        o.metrics.batchSeconds.observe({ stage: 'rekey' }, Number(process.hrtime.bigint() - started) / 1e9);
      })();
      inFlight.add(delivery);
      delivery.then(
        () => inFlight.delete(delivery),
        (err: unknown) => {
          sendFailure ??= err;
          inFlight.delete(delivery);
        },
      );
      while (inFlight.size >= STAGE1_IN_FLIGHT) await Promise.race(inFlight).catch(() => {});
    }
    await Promise.allSettled([...inFlight]);
    if (sendFailure !== null) throw sendFailure;
    // Events still waiting go on (their inner legs unpaired), and the batches that held them are acked.
    const rest = rekeyer.releaseHeld(true);
    if (rest.messages.length > 0) {
      await producer.send({ topic: o.topic, acks: -1, messages: bySourceRecords.records(rest.messages) });
      for (const g of rest.gates) g.sent();
    }
    await Promise.allSettled([...heldAcks]);
    if (sendFailure !== null) throw sendFailure;
  } finally {
    clearInterval(unreadMarks);
    await source.close().catch(() => {});
  }
}
