/**
 * The packed format a restore's reader worker (changelog-worker.ts) transfers a fetched batch in:
 * one buffer per partition's batch, no per-record objects across the thread boundary.
 */
import type { KafkaMessage } from 'kafkajs';
import { META_KEY } from './changelog-writer.js';

/** What a packed record is. */
export const KIND_PUT = 0;
export const KIND_TOMBSTONE = 1;
export const KIND_META = 2;
/** kind, key length, value position (from the record's start), value length: u32 each. */
const PACKED_HEADER = 16;

/** Bytes of `size` packed bytes plus one record with a key and value of these lengths. */
export function packedSize(size: number, keyLength: number, valueLength: number): number {
  const end = size + PACKED_HEADER + keyLength + valueLength;
  return end + ((8 - (end % 8)) % 8);
}

/**
 * Writes the header of a record starting at `at` (a multiple of 8); the caller copies the key to
 * `at + PACKED_KEY` and the value to the position returned (it ends at a multiple of 8), where the
 * next record starts after it.
 */
export function packHeader(
  out: Buffer,
  at: number,
  kind: number,
  keyLength: number,
  valueLength: number,
): number {
  let valueFrom = PACKED_HEADER + keyLength;
  valueFrom += (8 - ((at + valueFrom + valueLength) % 8)) % 8;
  out.writeUInt32LE(kind, at);
  out.writeUInt32LE(keyLength, at + 4);
  out.writeUInt32LE(valueFrom, at + 8);
  out.writeUInt32LE(valueLength, at + 12);
  return at + valueFrom;
}

/** Where a packed record's key starts (from the record's start). */
export const PACKED_KEY = PACKED_HEADER;

/**
 * A batch's records in one buffer to transfer from the reader worker: per record (starting at a
 * multiple of 8) a header, the key (UTF-8), padding, and the value placed so that it ends at
 * a multiple of 8. State values keep their baselines at their end (format 3), so those are aligned
 * for a Float64Array and the importer uses them in place, without a copy.
 */
export function packRecords(
  messages: readonly KafkaMessage[],
  end: bigint,
): { buffer: Buffer; count: number } {
  let size = 0;
  let count = 0;
  for (const m of messages) {
    if (BigInt(m.offset) >= end) break;
    size = packedSize(size, m.key?.length ?? 0, m.value?.length ?? 0);
    count++;
  }
  const buffer = Buffer.from(new ArrayBuffer(size));
  let at = 0;
  for (let i = 0; i < count; i++) {
    const m = messages[i] as KafkaMessage;
    const key = m.key ?? EMPTY;
    const value = m.value;
    const valueLength = value?.length ?? 0;
    const isMeta = key.length === META_KEY_BYTES.length && key.equals(META_KEY_BYTES);
    const kind = isMeta ? KIND_META : value === null ? KIND_TOMBSTONE : KIND_PUT;
    const valueAt = packHeader(buffer, at, kind, key.length, valueLength);
    key.copy(buffer, at + PACKED_KEY);
    if (value !== null) value.copy(buffer, valueAt);
    at = valueAt + valueLength;
  }
  return { buffer, count };
}

const EMPTY = Buffer.alloc(0);
const META_KEY_BYTES = Buffer.from(META_KEY, 'utf8');

/**
 * Reads up to `max` records of `packed` from byte position `at`, handing each to `onRecord` (the
 * value is a view into `packed`, not a copy); returns the position after the last one read.
 */
export function unpackRecords(
  packed: Buffer,
  at: number,
  max: number,
  onRecord: (kind: number, key: string, value: Buffer) => void,
): number {
  // A DataView reads the headers with one load each (Buffer.readUInt32LE: four, bounds-checked).
  const v = new DataView(packed.buffer, packed.byteOffset, packed.length);
  let n = 0;
  let pos = at;
  while (n < max && pos < packed.length) {
    const kind = v.getUint32(pos, true);
    const keyLength = v.getUint32(pos + 4, true);
    const valueAt = pos + v.getUint32(pos + 8, true);
    const valueEnd = valueAt + v.getUint32(pos + 12, true);
    const key = packed.toString('utf8', pos + PACKED_HEADER, pos + PACKED_HEADER + keyLength);
    onRecord(kind, key, packed.subarray(valueAt, valueEnd));
    pos = valueEnd;
    n++;
  }
  return pos;
}
