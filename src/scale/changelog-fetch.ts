/**
 * Reads changelog partitions with plain Fetch requests (v4) on a socket to each partition's leader,
 * for the restore's reader worker. Why not kafkajs' consumer: a restore's reader spent about two
 * thirds of the restore's CPU in it (joining each response, decoding every record into objects with
 * offset strings and Longs, collecting them) and joined a throw-away consumer group first. Here
 * each response is read into a reused buffer and its records are packed straight from it
 * (packRecordRefs, the same bytes packRecords makes), and no group is joined: the restore reads
 * from the start offset to the high watermark it saw at the start, and commits nothing.
 * Only for plaintext brokers without SASL (directFetchUsable); otherwise the worker uses kafkajs.
 * Uncompressed record batches only (the ChangelogWriter does not compress); anything else fails
 * the read, and the worker then reads with kafkajs.
 */
import { connect, type Socket } from 'node:net';
import type { Kafka, KafkaConfig } from 'kafkajs';
import { SentinelError } from '../errors.js';
import {
  KIND_META,
  KIND_PUT,
  KIND_TOMBSTONE,
  PACKED_KEY,
  packedSize,
  packHeader,
} from './changelog-packed.js';

/** Per record: key start, key length, value start, value length (-1: tombstone). */
export class RecordRefs {
  refs = new Int32Array(4 * 1024);
  count = 0;

  push(keyAt: number, keyLength: number, valueAt: number, valueLength: number): void {
    if (this.refs.length < (this.count + 1) * 4) {
      const grown = new Int32Array(this.refs.length * 2);
      grown.set(this.refs);
      this.refs = grown;
    }
    const at = this.count * 4;
    this.refs[at] = keyAt;
    this.refs[at + 1] = keyLength;
    this.refs[at + 2] = valueAt;
    this.refs[at + 3] = valueLength;
    this.count++;
  }
}

/**
 * The direct read cannot handle this data (compressed, old message format): read the rest with
 * kafkajs. `resumeAt` (set by readChangelogDirect): the partitions not read to their end yet, each
 * with the offset its records were handed over up to.
 */
export class DirectFetchUnsupported extends Error {
  resumeAt = new Map<number, number>();
}

let pos = 0;
/** End of the batch being read: varints do not read past it. */
let limit = 0;

/** A zigzag varint (Kafka record fields) at `pos`; advances `pos`. */
function varint(b: Buffer): number {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos >= limit) throw new Error('record batch truncated inside a varint');
    const byte = b[pos++] as number;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
    shift += 7;
    if (shift > 63) throw new Error('varint longer than 10 bytes');
  }
  // Zigzag: even -> value / 2, odd -> -(value + 1) / 2 (arithmetic: values exceed 32 bits).
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

const BATCH_HEADER = 61;

/**
 * Scans the record batches (magic 2) in `b[start..end)` and appends to `out` the records with an
 * offset in [from, to), in offset order. A batch cut off by the fetch size at the end is not read.
 * Returns the offset to fetch next (after the last complete batch; `from` when there was none).
 */
export function scanRecordBatches(
  b: Buffer,
  start: number,
  end: number,
  from: number,
  to: number,
  out: RecordRefs,
): number {
  let next = from;
  let at = start;
  while (at + BATCH_HEADER <= end) {
    const baseOffset = b.readUInt32BE(at) * 2 ** 32 + b.readUInt32BE(at + 4);
    const batchEnd = at + 12 + b.readInt32BE(at + 8);
    if (batchEnd > end) break;
    const magic = b[at + 16];
    if (magic !== 2) throw new DirectFetchUnsupported(`record batch of magic ${String(magic)}`);
    const attributes = b.readInt16BE(at + 21);
    if ((attributes & 0x07) !== 0)
      throw new DirectFetchUnsupported(`compressed record batch (codec ${attributes & 0x07})`);
    const lastOffset = baseOffset + b.readInt32BE(at + 23);
    const count = b.readInt32BE(at + 57);
    // Control batches (transaction markers) hold no changelog records.
    if ((attributes & 0x20) === 0) {
      pos = at + BATCH_HEADER;
      limit = batchEnd;
      for (let i = 0; i < count; i++) {
        const length = varint(b);
        const recordEnd = pos + length;
        if (recordEnd > batchEnd) throw new Error(`record at batch offset ${baseOffset} overruns its batch`);
        pos++; // attributes
        varint(b); // timestamp delta
        const offset = baseOffset + varint(b);
        const keyLength = varint(b);
        const keyAt = pos;
        pos += Math.max(0, keyLength);
        if (pos > recordEnd) throw new Error(`record at offset ${offset} overruns its length`);
        const valueLength = varint(b);
        const valueAt = pos;
        if (valueAt + Math.max(0, valueLength) > recordEnd)
          throw new Error(`record at offset ${offset} overruns its length`);
        if (offset >= from && offset < to) out.push(keyAt, Math.max(0, keyLength), valueAt, valueLength);
        pos = recordEnd;
      }
    }
    next = Math.max(next, lastOffset + 1);
    at = batchEnd;
  }
  return next;
}

/**
 * The records `refs` points at in `b`, packed as packRecords packs kafkajs messages (same bytes):
 * one buffer to transfer, baselines aligned for use in place.
 */
export function packRecordRefs(b: Buffer, refs: RecordRefs, metaKey: Buffer): Buffer {
  const r = refs.refs;
  let size = 0;
  for (let i = 0; i < refs.count * 4; i += 4)
    size = packedSize(size, r[i + 1] as number, Math.max(0, r[i + 3] as number));
  const out = Buffer.from(new ArrayBuffer(size));
  let at = 0;
  for (let i = 0; i < refs.count * 4; i += 4) {
    const keyAt = r[i] as number;
    const keyLength = r[i + 1] as number;
    const valueAt = r[i + 2] as number;
    const valueLength = r[i + 3] as number;
    const length = Math.max(0, valueLength);
    const isMeta =
      keyLength === metaKey.length && b.compare(metaKey, 0, keyLength, keyAt, keyAt + keyLength) === 0;
    const kind = isMeta ? KIND_META : valueLength < 0 ? KIND_TOMBSTONE : KIND_PUT;
    const valueTo = packHeader(out, at, kind, keyLength, length);
    b.copy(out, at + PACKED_KEY, keyAt, keyAt + keyLength);
    if (length > 0) b.copy(out, valueTo, valueAt, valueAt + length);
    at = valueTo + length;
  }
  return out;
}

/** Whether the direct read can talk to these brokers (plaintext, no SASL, no custom socket). */
export function directFetchUsable(config: KafkaConfig): boolean {
  return (
    (config.ssl === undefined || config.ssl === false) &&
    config.sasl === undefined &&
    config.socketFactory === undefined
  );
}

/** One request at a time on a socket to one broker; responses framed by their size. */
class BrokerSocket {
  private readonly socket: Socket;
  private correlation = 0;
  /** Two response buffers used in turn (reused: no fresh memory per response). */
  private readonly buffers: [Buffer, Buffer] = [Buffer.alloc(0), Buffer.alloc(0)];
  private turn = 0;
  private header = Buffer.alloc(4);
  private headerHave = 0;
  private response: Buffer | null = null;
  private have = 0;
  private waiting: { resolve: (b: Buffer) => void; reject: (e: Error) => void; id: number } | null = null;
  private failure: Error | null = null;
  readonly ready: Promise<void>;

  constructor(host: string, port: number, where: string) {
    this.socket = connect({ host, port, noDelay: true });
    this.ready = new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.ready.catch(() => {});
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (err: Error): void => {
      this.failure ??= new SentinelError('ESN_STATE', `Reading the changelog from ${where}: ${err.message}`, {
        where,
      });
      this.waiting?.reject(this.failure);
      this.waiting = null;
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('connection closed')));
  }

  /** Sends `body` (after the request header) and resolves with the response after its correlation id. */
  send(apiKey: number, apiVersion: number, clientId: string, body: Buffer): Promise<Buffer> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = ++this.correlation;
    const client = Buffer.from(clientId, 'utf8');
    const head = Buffer.alloc(4 + 2 + 2 + 4 + 2 + client.length);
    head.writeInt32BE(head.length - 4 + body.length, 0);
    head.writeInt16BE(apiKey, 4);
    head.writeInt16BE(apiVersion, 6);
    head.writeInt32BE(id, 8);
    head.writeInt16BE(client.length, 12);
    client.copy(head, 14);
    this.socket.write(Buffer.concat([head, body]));
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting = { resolve, reject, id };
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.response === null) {
        const take = Math.min(4 - this.headerHave, chunk.length - at);
        chunk.copy(this.header, this.headerHave, at, at + take);
        this.headerHave += take;
        at += take;
        if (this.headerHave < 4) return;
        const size = this.header.readInt32BE(0);
        this.turn ^= 1;
        if (this.buffers[this.turn].length < size)
          this.buffers[this.turn] = Buffer.allocUnsafe(Math.max(size, 2 * this.buffers[this.turn].length));
        this.response = this.buffers[this.turn].subarray(0, size);
        this.have = 0;
      }
      const response = this.response;
      const take = Math.min(response.length - this.have, chunk.length - at);
      chunk.copy(response, this.have, at, at + take);
      this.have += take;
      at += take;
      if (this.have === response.length) {
        this.response = null;
        this.headerHave = 0;
        const w = this.waiting;
        this.waiting = null;
        if (w === null || response.readInt32BE(0) !== w.id) {
          this.socket.destroy(new Error('response for no request (correlation id mismatch)'));
          return;
        }
        w.resolve(response);
      }
    }
  }
}

export interface DirectFetchOptions {
  maxBytes: number;
  maxBytesPerPartition: number;
  maxWaitMs: number;
}

/**
 * Reads `partitions` of `topic` from their start to the high watermark at the start, leader by
 * leader (metadata and offsets through `kafka`'s admin client), and hands each partition's records
 * of a response packed to `onChunk` (`last`: the partition is read to its end). The next fetch is
 * on its way while a response is packed and handed over. Partitions with nothing to read are not
 * handed over. When some data needs kafkajs, every leader's read stops after what it is handing over
 * and DirectFetchUnsupported says where each unfinished partition stands.
 */
export async function readChangelogDirect(
  kafka: Kafka,
  clientId: string,
  topic: string,
  partitions: readonly number[],
  options: DirectFetchOptions,
  metaKey: Buffer,
  onChunk: (partition: number, packed: Buffer, last: boolean) => Promise<void>,
): Promise<void> {
  if (partitions.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  let offsets: { partition: number; high: string; low: string }[];
  let leaders: Map<number, number>;
  let brokers: Map<number, { host: string; port: number }>;
  try {
    offsets = await admin.fetchTopicOffsets(topic);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    leaders = new Map(metadata.topics[0]?.partitions.map((p) => [p.partitionId, p.leader]) ?? []);
    const cluster = await admin.describeCluster();
    brokers = new Map(cluster.brokers.map((b) => [b.nodeId, { host: b.host, port: b.port }]));
  } finally {
    await admin.disconnect();
  }
  // Per leader: partition -> [next offset, end offset].
  const byLeader = new Map<number, Map<number, [number, number]>>();
  for (const p of partitions) {
    const o = offsets.find((x) => x.partition === p);
    if (o === undefined)
      throw new SentinelError('ESN_STATE', `Changelog ${topic} has no partition ${p}.`, { where: topic });
    const low = Number(o.low);
    const high = Number(o.high);
    if (high <= low) continue;
    const leader = leaders.get(p);
    if (leader === undefined || !brokers.has(leader))
      throw new SentinelError('ESN_STATE', `Changelog ${topic}/${p} has no leader.`, {
        where: `${topic}/${p}`,
      });
    const m = byLeader.get(leader) ?? new Map<number, [number, number]>();
    byLeader.set(leader, m);
    m.set(p, [low, high]);
  }
  // Offsets handed over up to (a partition read to its end is deleted), and a stop for every leader's
  // read once one of them fails.
  const handed = new Map<number, number>();
  for (const parts of byLeader.values()) for (const [p, [low]] of parts) handed.set(p, low);
  const stop = { now: false };
  const results = await Promise.allSettled(
    [...byLeader].map(([leader, parts]) => {
      const { host, port } = brokers.get(leader) as { host: string; port: number };
      return readFromLeader(host, port, clientId, topic, parts, options, metaKey, handed, stop, onChunk);
    }),
  );
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const unsupported = failures.find((e) => e instanceof DirectFetchUnsupported);
  if (unsupported !== undefined) {
    for (const [p, at] of handed) unsupported.resumeAt.set(p, at);
    throw unsupported;
  }
  if (failures.length > 0) throw failures[0];
}

async function readFromLeader(
  host: string,
  port: number,
  clientId: string,
  topic: string,
  parts: Map<number, [number, number]>,
  options: DirectFetchOptions,
  metaKey: Buffer,
  handed: Map<number, number>,
  stop: { now: boolean },
  onChunk: (partition: number, packed: Buffer, last: boolean) => Promise<void>,
): Promise<void> {
  const where = `${topic} at ${host}:${port}`;
  const socket = new BrokerSocket(host, port, where);
  const topicBytes = Buffer.from(topic, 'utf8');
  const refs = new RecordRefs();
  const fetch = (): Promise<Buffer> => {
    const response = request();
    // Awaited after the previous response is handed over; if this read fails first (the socket
    // closed), that is reported there, not as an unhandled rejection meanwhile.
    response.catch(() => {});
    return response;
  };
  const request = (): Promise<Buffer> => {
    const open = [...parts].filter(([, [next, end]]) => next < end);
    const body = Buffer.alloc(4 + 4 + 4 + 4 + 1 + 4 + 2 + topicBytes.length + 4 + open.length * 16);
    let o = body.writeInt32BE(-1, 0); // replica id: a consumer
    o = body.writeInt32BE(options.maxWaitMs, o);
    o = body.writeInt32BE(1, o); // min bytes
    o = body.writeInt32BE(options.maxBytes, o);
    o = body.writeInt8(0, o); // read uncommitted: the writer is not transactional
    o = body.writeInt32BE(1, o);
    o = body.writeInt16BE(topicBytes.length, o);
    o += topicBytes.copy(body, o);
    o = body.writeInt32BE(open.length, o);
    for (const [p, [next]] of open) {
      o = body.writeInt32BE(p, o);
      o = body.writeUInt32BE(Math.floor(next / 2 ** 32), o);
      o = body.writeUInt32BE(next % 2 ** 32, o);
      o = body.writeInt32BE(options.maxBytesPerPartition, o);
    }
    return socket.send(FETCH, FETCH_VERSION, clientId, body);
  };
  try {
    await socket.ready;
    let pending: Promise<Buffer> | null = fetch();
    while (pending !== null && !stop.now) {
      const b = await pending;
      // Response v4: correlation id, throttle ms, [topic, [partition, error, high watermark, last
      // stable offset, [aborted transactions], records]].
      let o = 8;
      const topics = b.readInt32BE(o);
      o += 4;
      const found: [number, number, number, number][] = []; // partition, records start, end, from
      for (let t = 0; t < topics; t++) {
        o += 2 + b.readInt16BE(o);
        const count = b.readInt32BE(o);
        o += 4;
        for (let i = 0; i < count; i++) {
          const p = b.readInt32BE(o);
          const error = b.readInt16BE(o + 4);
          o += 4 + 2 + 8 + 8;
          const aborted = b.readInt32BE(o);
          o += 4 + Math.max(0, aborted) * 16;
          const size = b.readInt32BE(o);
          o += 4;
          const start = o;
          o += Math.max(0, size);
          if (error !== 0)
            throw new SentinelError(
              'ESN_STATE',
              `Reading changelog ${topic}/${p} from ${host}:${port}: Kafka error code ${error}.`,
              { where: `${topic}/${p}` },
            );
          const range = parts.get(p);
          if (range === undefined || size <= 0) continue;
          found.push([p, start, o, range[0]]);
        }
      }
      // Where each partition goes on: scanned before packing so the next fetch goes out now.
      const scans: [number, number, RecordRefs, number][] = [];
      for (const [p, start, end, from] of found) {
        const range = parts.get(p) as [number, number];
        const mine = scans.length === 0 ? refs : new RecordRefs();
        mine.count = 0;
        range[0] = scanRecordBatches(b, start, end, from, range[1], mine);
        scans.push([p, range[0] >= range[1] ? 1 : 0, mine, range[0]]);
      }
      const more = [...parts.values()].some(([next, end]) => next < end);
      pending = more ? fetch() : null;
      for (const [p, last, mine, next] of scans) {
        if (stop.now) return;
        if (mine.count > 0 || last === 1) await onChunk(p, packRecordRefs(b, mine, metaKey), last === 1);
        if (last === 1) handed.delete(p);
        else handed.set(p, next);
      }
    }
  } catch (err) {
    stop.now = true;
    throw err;
  } finally {
    socket.close();
  }
}

const FETCH = 1;
const FETCH_VERSION = 4;
