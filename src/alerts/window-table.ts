/**
 * A capped map of entries that each live for a window of event time (standing alerts, per-source
 * flood windows). Expiry and eviction are amortised O(1): entries are queued in creation order, one
 * queue per window length, so each queue is in expiry order (event time only moves forward, give or
 * take the allowed lateness); a replaced or deleted entry stays queued and is skipped when reached.
 * `map.keys().next()` on a churning Map is not O(1) in V8 (deleted slots stay until a rehash and the
 * iterator walks them), which made a 400,000-host flood run at 6,200 lines/s.
 */

export interface WindowEntry {
  readonly key: string;
  /** Event time the window opened. */
  readonly start: number;
  readonly lengthMs: number;
}

/** A FIFO over an array: O(1) push and shift, compacted once the consumed prefix dominates. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined as T;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

export class WindowTable<T extends WindowEntry> {
  private readonly map = new Map<string, T>();
  /** One queue per window length (a handful: the rules' realert windows). */
  private readonly queues = new Map<number, Fifo<T>>();
  /** Queued entries, live or not (compacts when stale ones dominate). */
  private queued = 0;
  /** Entries removed early because the table was full. */
  evicted = 0;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  values(): IterableIterator<T> {
    return this.map.values();
  }

  /** Adds (or replaces) `entry`; returns the entry evicted to make room, if one was. */
  set(entry: T): T | undefined {
    let evicted: T | undefined;
    if (!this.map.has(entry.key) && this.map.size >= this.maxEntries) {
      evicted = this.oldest();
      if (evicted !== undefined) {
        this.map.delete(evicted.key);
        this.evicted++;
      }
    }
    this.map.set(entry.key, entry);
    let q = this.queues.get(entry.lengthMs);
    if (q === undefined) {
      q = new Fifo<T>();
      this.queues.set(entry.lengthMs, q);
    }
    q.push(entry);
    this.queued++;
    if (this.queued > 2 * this.map.size + 4096) this.compact();
    return evicted;
  }

  delete(entry: T): void {
    if (this.map.get(entry.key) === entry) this.map.delete(entry.key);
  }

  /** Removes and returns, oldest first per window length, the entries whose window ended by `now`. */
  takeExpired(now: number): T[] {
    const out: T[] = [];
    for (const q of this.queues.values()) {
      for (let e = q.peek(); e !== undefined; e = q.peek()) {
        if (this.map.get(e.key) !== e) {
          q.shift();
          this.queued--;
          continue;
        }
        if (now - e.start < e.lengthMs) break;
        q.shift();
        this.queued--;
        this.map.delete(e.key);
        out.push(e);
      }
    }
    return out;
  }

  /** The live entry whose window ends first (stale queue heads are dropped on the way). */
  private oldest(): T | undefined {
    let best: T | undefined;
    for (const q of this.queues.values()) {
      let e = q.peek();
      while (e !== undefined && this.map.get(e.key) !== e) {
        q.shift();
        this.queued--;
        e = q.peek();
      }
      if (e !== undefined && (best === undefined || e.start + e.lengthMs < best.start + best.lengthMs))
        best = e;
    }
    return best;
  }

  /** Drops the stale entries of every queue (each live entry is queued exactly once). */
  private compact(): void {
    this.queued = 0;
    for (const [len, q] of this.queues) {
      const fresh = new Fifo<T>();
      for (let e = q.shift(); e !== undefined; e = q.shift()) {
        if (this.map.get(e.key) === e) {
          fresh.push(e);
          this.queued++;
        }
      }
      this.queues.set(len, fresh);
    }
  }
}
