/**
 * How many distinct keys a flood alert folded, in 1 KB whatever the flood's size: a HyperLogLog
 * with 1,024 registers (standard error ~3 %), exact below 64 (a small set first).
 */
const P = 10;
const M = 1 << P;
const ALPHA = 0.7213 / (1 + 1.079 / M);
const EXACT = 64;

/** FNV-1a over UTF-16 code units, then murmur3's finaliser for the high bits HLL uses. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class DistinctCount {
  private small: Set<string> | null = new Set();
  private readonly registers = new Uint8Array(M);

  add(key: string): void {
    const h = hash32(key);
    const j = h >>> (32 - P);
    const rank = Math.min(Math.clz32((h << P) | (1 << (P - 1))) + 1, 32 - P + 1);
    if (rank > (this.registers[j] as number)) this.registers[j] = rank;
    const small = this.small;
    if (small !== null) {
      small.add(key);
      if (small.size > EXACT) this.small = null;
    }
  }

  /** Exact up to 64 keys, an estimate beyond. */
  estimate(): number {
    if (this.small !== null) return this.small.size;
    let sum = 0;
    let zeros = 0;
    for (let j = 0; j < M; j++) {
      const r = this.registers[j] as number;
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const e = (ALPHA * M * M) / sum;
    return Math.round(e <= 2.5 * M && zeros > 0 ? M * Math.log(M / zeros) : e);
  }
}
