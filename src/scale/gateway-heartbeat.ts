/**
 * The Kafka side of the mesh-wide gateway-silence evaluator (gateway-evaluator.ts).
 *
 * Publisher (every instance, stage 1): every `intervalMs` one record on the single-partition
 * `<prefix>-gateway-heartbeat` topic with the leg counts per event-time window since the previous
 * one, the newest event time read and whether any line came in (the record is sent even when idle:
 * it is what tells the evaluator not to wait for this instance). Counts are taken before the batch
 * that produced them is committed, so a crash can count a replayed batch twice, and a crash before
 * the send loses up to one interval: the evaluator judges ratios over whole windows, which one
 * interval of one instance barely moves.
 *
 * Evaluator (the one instance the consumer group `<groupId>-gateway-heartbeat` assigns partition 0):
 * on every assignment it starts a fresh evaluator and alert stage and re-reads the records of the
 * last `rebuildMs` (record time), so a takeover rebuilds the state (windows, publishers, firing)
 * from the topic; it never commits offsets. Alerts re-raised while re-reading have the ids they had
 * (deterministic), so sinks keyed by id overwrite them.
 */
import { hostname } from 'node:os';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { AlertStage, type AlertStageOptions } from '../alerts/stage.js';
import type { Alert } from '../alerts/types.js';
import type { LogFn } from '../sinks/types.js';
import {
  type GatewayEvaluatorOptions,
  GatewaySilenceEvaluator,
  type Heartbeat,
  HeartbeatSchema,
} from './gateway-evaluator.js';
import type { GatewayTally } from './rekey.js';

export function heartbeatRecord(publisher: string, windowMs: number, tally: GatewayTally): Heartbeat {
  return {
    v: 1,
    publisher,
    windowMs,
    maxTime: tally.maxTime,
    idle: tally.idle,
    counts: [...tally.counts].map(([start, c]) => [start, c.sidecarToGateway, c.gateway]),
  };
}

export interface HeartbeatPublisherOptions {
  producer: Producer;
  topic: string;
  windowMs: number;
  intervalMs: number;
  take: () => GatewayTally;
  log: LogFn;
}

/** Publishes stage 1's tally every interval; `stop()` sends the last one. */
export class HeartbeatPublisher {
  readonly id = `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> = Promise.resolve();
  sent = 0;

  constructor(private readonly o: HeartbeatPublisherOptions) {
    this.timer = setInterval(() => this.publish(), o.intervalMs);
    this.timer.unref();
  }

  private publish(leaving = false): Promise<void> {
    const record = heartbeatRecord(this.id, this.o.windowMs, this.o.take());
    // Leaving the group: its input moves to another instance, which reports it from now on.
    if (leaving) record.idle = true;
    this.sending = this.sending.then(() =>
      this.o.producer
        .send({
          topic: this.o.topic,
          acks: -1,
          messages: [{ key: this.id, value: JSON.stringify(record) }],
        })
        .then(
          () => {
            this.sent++;
          },
          (err: unknown) =>
            this.o.log('warn', 'Could not publish the gateway heartbeat; its counts are lost.', {
              topic: this.o.topic,
              windows: record.counts.length,
              error: String(err),
            }),
        ),
    );
    return this.sending;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.publish(true);
  }
}

export interface GatewayEvaluatorRunOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  sessionTimeoutMs: number;
  evaluator: GatewayEvaluatorOptions;
  alerts: AlertStageOptions;
  /** Records older than this (record time) are not re-read on assignment. */
  rebuildMs: number;
  /** Delivers alerts to the sinks (retrying until they accept them). */
  deliver: (alerts: Alert[]) => Promise<void>;
  log: LogFn;
}

interface EvaluatorState {
  evaluator: GatewaySilenceEvaluator;
  stage: AlertStage;
  from: number;
}

/** Joins the heartbeat group; whichever member holds partition 0 evaluates. */
export async function startGatewayEvaluator(
  o: GatewayEvaluatorRunOptions,
): Promise<{ stop(): Promise<void> }> {
  const consumer: Consumer = o.kafka.consumer({
    groupId: o.groupId,
    sessionTimeout: o.sessionTimeoutMs,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: o.topic, fromBeginning: true });
  let state: EvaluatorState | null = null;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const mine = (e.payload.memberAssignment[o.topic] ?? []).includes(0);
    // No offsets are committed: every assignment reads the topic again, so start afresh each time.
    state = mine
      ? {
          evaluator: new GatewaySilenceEvaluator(o.evaluator),
          stage: new AlertStage(o.alerts),
          from: Date.now() - o.rebuildMs,
        }
      : null;
    if (mine)
      o.log('info', 'Evaluating gateway silence mesh-wide; re-reading the recent heartbeats.', {
        topic: o.topic,
      });
  });
  const eachBatch = async ({ batch, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const s = state;
    if (s === null) return;
    const alerts: Alert[] = [];
    const emit = (f: Parameters<AlertStage['accept']>[0]): void => s.stage.accept(f, alerts);
    for (const m of batch.messages) {
      if (!isRunning() || isStale()) return;
      const at = Number(m.timestamp);
      if (at < s.from || m.value === null) continue;
      let h: Heartbeat;
      try {
        h = HeartbeatSchema.parse(JSON.parse(m.value.toString()));
      } catch (err) {
        o.log('warn', 'Skipped an unreadable gateway heartbeat record.', {
          where: `${batch.topic}/${batch.partition}/${m.offset}`,
          error: err instanceof Error ? err.message.slice(0, 300) : String(err),
        });
        continue;
      }
      s.evaluator.accept(h, at, emit);
    }
    s.stage.advance(s.evaluator.watermark, alerts);
    if (alerts.length > 0 && state === s) await o.deliver(alerts);
    await heartbeat();
  };
  const running = consumer.run({ autoCommit: false, eachBatch });
  return {
    async stop() {
      await consumer.stop().catch(() => {});
      await running.catch(() => {});
      await consumer.disconnect().catch(() => {});
    },
  };
}
