/**
 * A bounded map from key to state with least-recently-seen eviction. Keys are re-ordered at most
 * once per minute of event time (cheap approximate LRU: Map keeps insertion order, so the first
 * entries are the coldest). Evictions are counted so the engine can say so in a `state-eviction`
 * finding instead of growing without limit.
 */
export class KeyTable<V> {
  private readonly map = new Map<string, { value: V; touched: number }>();
  /** Evictions since the last `takeEvictions()`. */
  private evictedSinceReport = 0;
  private lastEvictedKey: string | null = null;
  evictedTotal = 0;

  constructor(
    readonly name: string,
    readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  /** Returns the state for `key`, creating it with `create()`; marks it seen at `time`. */
  touch(key: string, time: number, create: () => V): V {
    const entry = this.map.get(key);
    const minute = Math.floor(time / 60_000);
    if (entry !== undefined) {
      if (entry.touched !== minute) {
        entry.touched = minute;
        this.map.delete(key);
        this.map.set(key, entry);
      }
      return entry.value;
    }
    const value = create();
    this.set(key, value, minute);
    return value;
  }

  /** Inserts (or replaces) state, e.g. on import; may evict the coldest key. */
  set(key: string, value: V, minute = 0): void {
    this.map.delete(key);
    this.map.set(key, { value, touched: minute });
    while (this.map.size > this.maxKeys) {
      const coldest = this.map.keys().next().value as string;
      this.map.delete(coldest);
      this.evictedSinceReport++;
      this.evictedTotal++;
      this.lastEvictedKey = coldest;
    }
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  entries(): IterableIterator<[string, { value: V; touched: number }]> {
    return this.map.entries();
  }

  /** Evictions since the last call, and one example key, then resets the count. */
  takeEvictions(): { count: number; example: string | null } {
    const out = { count: this.evictedSinceReport, example: this.lastEvictedKey };
    this.evictedSinceReport = 0;
    this.lastEvictedKey = null;
    return out;
  }
}
