/**
 * The changelog reader of a restore, in a worker thread: fetches and decodes the changelog with
 * kafkajs (about half of a restore's CPU) beside the thread that imports, and transfers each batch
 * packed into one buffer (packRecords). Holds back its next fetch while the importer has more than
 * IMPORT_BACKLOG_BYTES waiting. Started by restorePartitions or ahead of it (prestartChangelogReader).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import { IMPORT_BACKLOG_BYTES, packRecords, type ReaderMessage, readChangelog } from './changelog.js';

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

  const read = (r: ReadRequest): void => {
    readChangelog(kafka, r.topic, r.partitions, r.groupPrefix, async (partition, messages, end, last) => {
      const { buffer } = packRecords(messages, end);
      outstanding += buffer.length;
      post({ type: 'chunk', partition, last, buffer: buffer.buffer as ArrayBuffer }, [
        buffer.buffer as ArrayBuffer,
      ]);
      while (outstanding > IMPORT_BACKLOG_BYTES)
        await new Promise<void>((w) => {
          wake = w;
        });
    }).then(
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
