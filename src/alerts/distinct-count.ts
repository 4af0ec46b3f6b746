/**
 * How many distinct keys a flood alert folded, in 1 KB whatever the flood's size: a HyperLogLog
 * with 1,024 registers (standard error ~3 %), exact below 64 (a small set first).
 */
import { hash32 } from '../sketch/string-hash.js';

const P = 10;
const M = 1 << P;
const ALPHA = 0.7213 / (1 + 1.079 / M);
const EXACT = 64;

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
