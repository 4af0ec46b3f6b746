/** A DecodeSink for tests that copies what it receives. */
import type { DecodeSink } from '../../src/parse/decoder-types.js';
import type { AccessRecord, ShipperMeta } from '../../src/parse/types.js';

export class CollectingSink implements DecodeSink {
  readonly records: { record: AccessRecord; meta: ShipperMeta }[] = [];
  readonly skips: string[] = [];
  readonly bad: { reason: string; raw: string }[] = [];
  access(record: AccessRecord, meta: ShipperMeta): void {
    this.records.push({ record: { ...record }, meta: { ...meta, shippedAt: meta.shippedAt } });
  }
  skipped(reason: string): void {
    this.skips.push(reason);
  }
  malformed(reason: string, raw: string): void {
    this.bad.push({ reason, raw });
  }
}
