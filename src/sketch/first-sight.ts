/**
 * Which keys were seen once before, in 128 KB whatever the traffic: a Bloom filter of 2^20 bits with
 * 3 probes, blocked (all probes of a key in one 64-byte block: one cache miss per key, not three),
 * cleared after 2^17 keys (then about 4 % of new keys pass for seen). Used as a doorkeeper
 * (TinyLFU's): what is cached or given state only from its second sighting, so a flood of names
 * each used once creates none of it, while a name in use is admitted on its next line.
 */
import { hash32 } from './string-hash.js';

const BLOCKS_LOG2 = 11;
const BLOCK_WORDS = 16;
const CLEAR_AFTER = 1 << 17;

export class FirstSightFilter {
  private readonly bits = new Uint32Array((1 << BLOCKS_LOG2) * BLOCK_WORDS);
  private added = 0;

  /** Records `key`; true when it was not recorded before (its first sighting since the last clear). */
  firstSight(key: string): boolean {
    const h = hash32(key);
    const base = (h >>> (32 - BLOCKS_LOG2)) * BLOCK_WORDS;
    // Three 9-bit bit positions inside the block's 512 bits: two from the low bits of h, one from
    // a second mix of it.
    const fresh =
      this.set(base, h & 511) |
      this.set(base, (h >>> 9) & 511) |
      this.set(base, Math.imul(h, 0x9e3779b1) >>> 23);
    if (fresh !== 0 && ++this.added >= CLEAR_AFTER) {
      this.bits.fill(0);
      this.added = 0;
    }
    return fresh !== 0;
  }

  /** Sets bit `at` of the block at word `base`; 1 when it was clear. */
  private set(base: number, at: number): number {
    const word = base + (at >>> 5);
    const bit = 1 << (at & 31);
    const old = this.bits[word] as number;
    if ((old & bit) !== 0) return 0;
    this.bits[word] = old | bit;
    return 1;
  }
}
