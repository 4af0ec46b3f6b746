/**
 * The changelog reader of a restore, in a worker thread: fetches the changelog beside the thread
 * that imports and transfers each partition's records of a fetch packed into one buffer. Plaintext
 * brokers: with plain Fetch requests on a socket (changelog-fetch.ts; kafkajs' consumer was about
 * two thirds of a restore's CPU); otherwise, or from where the data needs it (compressed batches),
 * with kafkajs (packRecords). Holds back its next fetch while the importer has more than
 * IMPORT_BACKLOG_BYTES waiting. Started by restorePartitions or ahead of it (prestartChangelogReader).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import { DirectFetchUnsupported, directFetchUsable, readChangelogDirect } from './changelog-fetch.js';
import { IMPORT_BACKLOG_BYTES } from './changelog-import.js';
import { packRecords } from './changelog-packed.js';
import { RESTORE_FETCH, readChangelog } from './changelog-read.js';
import type { ReaderMessage } from './changelog-restore.js';
import { META_KEY } from './changelog-writer.js';

interface ReadRequest {
  topic: string;
  partitions: number[];
  groupPrefix: string;
}

const port = parentPort;
if (port !== null) {
  // Started ahead of a restore (prestartChangelogReader) or by it: modules loaded, client made;
  // the partitions to read come in a message.
  const { config } = workerData as { config: KafkaConfig };
  const kafka = new Kafka({ ...config, logLevel: logLevel.WARN });
  let outstanding = 0;
  let wake: (() => void) | null = null;
  let started = false;
  const post = (m: ReaderMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  port.on('message', (m: { consumed?: number; read?: ReadRequest }) => {
    if (m.read !== undefined && !started) {
      started = true;
      read(m.read);
      return;
    }
    outstanding -= m.consumed ?? 0;
    if (outstanding <= IMPORT_BACKLOG_BYTES && wake !== null) {
      const w = wake;
      wake = null;
      w();
    }
  });
  post({ type: 'ready' });
  const META_KEY_BYTES = Buffer.from(META_KEY, 'utf8');

  let handedOver = 0;
  const handOver = async (partition: number, buffer: Buffer, last: boolean): Promise<void> => {
    handedOver++;
    outstanding += buffer.length;
    post({ type: 'chunk', partition, last, buffer: buffer.buffer as ArrayBuffer }, [
      buffer.buffer as ArrayBuffer,
    ]);
    while (outstanding > IMPORT_BACKLOG_BYTES)
      await new Promise<void>((w) => {
        wake = w;
      });
  };
  const withKafkajs = (r: ReadRequest): Promise<void> =>
    readChangelog(kafka, r.topic, r.partitions, r.groupPrefix, (partition, messages, end, last) =>
      handOver(partition, packRecords(messages, end).buffer, last),
    );
  const direct = async (r: ReadRequest): Promise<void> => {
    try {
      await readChangelogDirect(
        kafka,
        config.clientId ?? 'egress-sentinel',
        r.topic,
        r.partitions,
        RESTORE_FETCH,
        META_KEY_BYTES,
        handOver,
      );
    } catch (err) {
      // A broker that refuses the plain fetch (a Fetch version it no longer serves, anything else
      // before the first records): the library reads it all.
      if (!(err instanceof DirectFetchUnsupported) && handedOver === 0) return withKafkajs(r);
      if (!(err instanceof DirectFetchUnsupported)) throw err;
      // Data only kafkajs reads (compressed batches): the partitions not read to their end, from
      // the start, handing over only the records after those already handed over.
      const resumeAt = err.resumeAt;
      await readChangelog(
        kafka,
        r.topic,
        [...resumeAt.keys()],
        r.groupPrefix,
        (partition, messages, end, last) => {
          const from = BigInt(resumeAt.get(partition) ?? 0);
          const rest = messages.filter((m) => BigInt(m.offset) >= from);
          return handOver(partition, packRecords(rest, end).buffer, last);
        },
      );
    }
  };

  const read = (r: ReadRequest): void => {
    (directFetchUsable(config) ? direct(r) : withKafkajs(r)).then(
      () => {
        post({ type: 'done' });
        port.close();
      },
      (err: unknown) => {
        post({
          type: 'error',
          message: (err as Error).message ?? String(err),
          retriable: (err as { retriable?: boolean }).retriable !== false,
        });
        port.close();
      },
    );
  };
}
