/**
 * Where `simulate` writes: a file, stdout (`-`), or a Kafka topic (`kafka://host:port/topic`) through
 * a kafkajs producer in batches. Writes wait for the stream to drain, so piping into `head` or a
 * slow consumer neither buffers the whole day in memory nor loses lines.
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { Kafka, logLevel } from 'kafkajs';
import { SentinelError } from '../errors.js';

export interface KafkaTarget {
  brokers: string[];
  topic: string;
}

/** `kafka://host:port[,host:port]/topic`, or null when `to` is not a Kafka URL. */
export function parseKafkaTarget(to: string): KafkaTarget | null {
  if (!to.startsWith('kafka://')) return null;
  const rest = to.slice('kafka://'.length);
  const slash = rest.indexOf('/');
  const brokers = (slash < 0 ? rest : rest.slice(0, slash)).split(',').filter(Boolean);
  const topic = slash < 0 ? '' : decodeURIComponent(rest.slice(slash + 1));
  if (brokers.length === 0 || topic === '' || topic.includes('/')) {
    throw new SentinelError('ESN_INPUT', `Expected --to kafka://host:port/topic, got "${to}".`, {
      where: '--to',
    });
  }
  return { brokers, topic };
}

export type Progress = (written: number) => void;

async function writeToStream(lines: Iterable<string>, out: Writable, progress?: Progress): Promise<number> {
  // A reader that goes away (`simulate | head`) ends the run quietly instead of crashing it.
  let closed = false;
  const onError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    closed = true;
    out.emit('drain');
  };
  out.on('error', onError);
  let buffer = '';
  let count = 0;
  try {
    for (const line of lines) {
      buffer += `${line}\n`;
      count++;
      if (buffer.length >= 1 << 20) {
        if (!out.write(buffer)) await once(out, 'drain');
        if (closed) return count;
        buffer = '';
        progress?.(count);
      }
    }
    if (buffer !== '' && !out.write(buffer)) await once(out, 'drain');
  } finally {
    out.off('error', onError);
  }
  return count;
}

export async function writeLinesToFile(
  lines: Iterable<string>,
  to: string,
  progress?: Progress,
): Promise<number> {
  if (to === '-') return writeToStream(lines, process.stdout, progress);
  const out = createWriteStream(to);
  const failed = once(out, 'error').then(([err]) => {
    throw new SentinelError('ESN_INPUT', `Cannot write ${to}: ${(err as Error).message}`, {
      where: to,
      cause: err,
    });
  });
  const written = Promise.race([writeToStream(lines, out, progress), failed]);
  const count = await written;
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  return count;
}

export async function writeMessagesToKafka(
  messages: Iterable<{ key: string; value: string }>,
  target: KafkaTarget,
  progress?: Progress,
  batchSize = 1000,
): Promise<number> {
  const kafka = new Kafka({
    clientId: 'egress-sentinel-simulate',
    brokers: target.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 3 },
  });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  try {
    await producer.connect();
  } catch (err) {
    throw new SentinelError(
      'ESN_SERVER_UNREACHABLE',
      `Cannot reach Kafka at ${target.brokers.join(',')}: ${(err as Error).message}`,
      { where: '--to', cause: err },
    );
  }
  let count = 0;
  try {
    let batch: { key: string; value: string }[] = [];
    for (const message of messages) {
      batch.push(message);
      if (batch.length >= batchSize) {
        await producer.send({ topic: target.topic, messages: batch });
        count += batch.length;
        batch = [];
        progress?.(count);
      }
    }
    if (batch.length > 0) {
      await producer.send({ topic: target.topic, messages: batch });
      count += batch.length;
    }
  } catch (err) {
    throw new SentinelError(
      'ESN_SINK',
      `Kafka rejected messages for topic ${target.topic}: ${(err as Error).message}`,
      { where: target.topic, cause: err },
    );
  } finally {
    await producer.disconnect();
  }
  return count;
}
