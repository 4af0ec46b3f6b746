/**
 * A bounded map from key to state with least-recently-seen eviction. Keys are re-ordered at most
 * once per minute of event time (cheap approximate LRU: Map keeps insertion order, so the first
 * entries are the coldest). Evictions are counted so the engine can say so in a `state-eviction`
 * finding instead of growing without limit.
 *
 * With `groupSep`, keys are `group + groupSep + name` and the table also keeps an index from group
 * to its entries, so one group's entries (one identity's baselines, for export) are found without
 * scanning the table. The index is kept on insert, replace, delete and eviction; `touch` of an
 * existing key (the hot path) does not touch it.
 */
import { FirstSightFilter } from '../../sketch/first-sight.js';

export interface KeyTableEntry<V> {
  value: V;
  touched: number;
}

export class KeyTable<V> {
  private readonly map = new Map<string, KeyTableEntry<V>>();
  /**
   * group -> its full keys (the same strings as in `map`: no new strings per key). A group of one
   * key (most identities talk to few destinations; a restore inserts a million of them) holds the
   * key string itself and allocates nothing; a Set only from the second key on.
   */
  private readonly groups: Map<string, string | Set<string>> | null;
  /** Evictions since the last `takeEvictions()`. */
  private evictedSinceReport = 0;
  private lastEvictedKey: string | null = null;
  evictedTotal = 0;
  /** New keys of a group at its quota not given state on their first sighting (see touchInGroup). */
  deferredTotal = 0;
  private firstSights: FirstSightFilter | null = null;
  /** See coldestKey. */
  private cold: MapIterator<string> | null = null;
  /** See groupVictim. */
  private groupCold: IterableIterator<string> | null = null;
  private groupColdOf: object | null = null;

  /**
   * `release`: called with a value the table drops (evicted, deleted or replaced), so pooled
   * storage behind it can be reused. `selfEntry`: values are their own entries (they have a
   * `touched` field and `value` returns themselves): one object per key less.
   */
  constructor(
    readonly name: string,
    readonly maxKeys: number,
    readonly groupSep: string | null = null,
    private readonly release: ((value: V) => void) | null = null,
    private readonly selfEntry = false,
    /**
     * Keys one group may hold: beyond it the group's oldest key goes (counted as an eviction), so
     * one identity flooding new destinations churns its own keys, not everyone's baselines.
     */
    readonly maxPerGroup = Number.POSITIVE_INFINITY,
  ) {
    this.groups = groupSep === null ? null : new Map();
  }

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
    if (entry !== undefined) return this.seen(key, entry, minute);
    const value = create();
    this.set(key, value, minute);
    return value;
  }

  /** Marks an existing entry seen in `minute` (moved to the end once per minute). */
  private seen(key: string, entry: KeyTableEntry<V>, minute: number): V {
    if (entry.touched !== minute) {
      entry.touched = minute;
      this.map.delete(key);
      this.map.set(key, entry);
    }
    return entry.value;
  }

  /**
   * `touch` of `key` = `group + groupSep + name` in a table with a per-group quota, except that a key
   * new to a group already at its quota gets state only on its second sighting (FirstSightFilter):
   * null on the first. A source flooding names it uses once then costs a lookup and a hash per line,
   * not a baseline, an eviction and their garbage, and its existing keys keep their history.
   */
  touchInGroup(group: string, key: string, time: number, create: () => V): V | null {
    const entry = this.map.get(key);
    const minute = Math.floor(time / 60_000);
    if (entry !== undefined) return this.seen(key, entry, minute);
    if (this.groupSize(group) >= this.maxPerGroup) {
      this.firstSights ??= new FirstSightFilter();
      if (this.firstSights.firstSight(key)) {
        this.deferredTotal++;
        return null;
      }
    }
    const value = create();
    this.insert(key, group, value, minute, true);
    return value;
  }

  /** Inserts (or replaces) state, e.g. on import; may evict the coldest key. */
  set(key: string, value: V, minute = 0): void {
    this.insert(key, null, value, minute);
  }

  /**
   * `set(group + groupSep + name, ...)` for a caller that has the group apart (import of one
   * identity): saves finding the separator in the key to index it.
   */
  setInGroup(group: string, name: string, value: V, minute = 0): void {
    this.insert(group + (this.groupSep ?? '') + name, group, value, minute);
  }

  /**
   * `setInGroup` with the full key built by the caller (`group + groupSep + name`). `absent`: the
   * caller knows the key is not in the table (its group was just deleted), which saves a lookup;
   * `newGroup`: nor is any key of its group (the first key of a group just deleted), which saves
   * another (a restore inserts a million keys: each lookup in a large Map is a cache miss).
   */
  setGroupKey(group: string, key: string, value: V, minute: number, absent: boolean, newGroup = false): void {
    this.insert(key, group, value, minute, absent, absent && newGroup);
  }

  private insert(
    key: string,
    group: string | null,
    value: V,
    minute: number,
    absent = false,
    newGroup = false,
  ): void {
    let entry: KeyTableEntry<V>;
    if (this.selfEntry) {
      entry = value as unknown as KeyTableEntry<V>;
      entry.touched = minute;
    } else entry = { value, touched: minute };
    const size = this.map.size;
    const old = absent || this.release === null ? undefined : this.map.get(key);
    this.map.set(key, entry);
    if (!absent && this.map.size === size) {
      if (old !== undefined && old.value !== value) this.release?.(old.value);
      // A replace (the size did not grow; one lookup instead of a get and a set for a new key)
      // keeps its index entry; it becomes the most recently seen key.
      this.map.delete(key);
      this.map.set(key, entry);
      return;
    }
    if (this.groups !== null) {
      if (newGroup) this.groups.set(group as string, key);
      else {
        const g = this.index(key, group);
        if (g.size > this.maxPerGroup) this.evict(this.groupVictim(g, key));
      }
    }
    while (this.map.size > this.maxKeys) this.evict(this.coldestKey());
  }

  /**
   * The key of an over-quota group to evict: of the next 8 in the group's insertion order, the one
   * seen least recently (sampled LRU, as Redis does: a key in use, like an identity's total or a host
   * it calls every few minutes, stays while names used once go). The group's iterator is kept across
   * evictions (see coldestKey: a fresh one walks every slot deleted since the last rehash).
   */
  private groupVictim(g: { values(): IterableIterator<string> }, added: string): string {
    if (this.groupColdOf !== g) {
      this.groupColdOf = g;
      this.groupCold = g.values();
    }
    let victim: string | null = null;
    let victimTouched = Number.POSITIVE_INFINITY;
    let looked = 0;
    let restarted = false;
    while (looked < 8) {
      const next = (this.groupCold as IterableIterator<string>).next();
      if (next.done === true) {
        if (restarted) break;
        restarted = true;
        this.groupCold = g.values();
        continue;
      }
      const k = next.value;
      const entry = k === added ? undefined : this.map.get(k);
      if (entry === undefined) continue;
      looked++;
      // Of keys seen in the same minute, the later inserted (it has less history to lose).
      if (entry.touched <= victimTouched) {
        victim = k;
        victimTouched = entry.touched;
      }
    }
    return victim ?? added;
  }

  private evict(key: string): void {
    if (this.release !== null) this.release((this.map.get(key) as KeyTableEntry<V>).value);
    this.map.delete(key);
    this.unindex(key);
    this.evictedSinceReport++;
    this.evictedTotal++;
    this.lastEvictedKey = key;
  }

  /**
   * The first key in insertion order, in amortised O(1): one iterator is kept across evictions.
   * `map.keys().next()` from scratch walks the slots deleted since V8 last rehashed the table, which
   * on a table that churns (a flood of new hosts) made each eviction O(table): 1,700 lines/s at 10^6
   * hosts. Everything before the kept iterator's position was evicted or moved to the end (touch),
   * so its next key is the coldest.
   */
  private coldestKey(): string {
    for (;;) {
      this.cold ??= this.map.keys();
      const next = this.cold.next();
      if (next.done !== true) return next.value;
      this.cold = null;
    }
  }

  delete(key: string): void {
    const entry = this.release === null ? undefined : this.map.get(key);
    if (this.map.delete(key)) {
      if (entry !== undefined) this.release?.(entry.value);
      this.unindex(key);
    }
  }

  entries(): IterableIterator<[string, KeyTableEntry<V>]> {
    return this.map.entries();
  }

  /**
   * The entries of one group as [name after the separator, entry], in insertion order (empty without
   * `groupSep`). O(entries of the group).
   */
  group(group: string): [string, KeyTableEntry<V>][] {
    const keys = this.groups?.get(group);
    if (keys === undefined) return [];
    const skip = group.length + (this.groupSep as string).length;
    if (typeof keys === 'string') return [[keys.slice(skip), this.map.get(keys) as KeyTableEntry<V>]];
    const out: [string, KeyTableEntry<V>][] = [];
    for (const key of keys) out.push([key.slice(skip), this.map.get(key) as KeyTableEntry<V>]);
    return out;
  }

  /** How many entries `group` has. */
  groupSize(group: string): number {
    const keys = this.groups?.get(group);
    return keys === undefined ? 0 : typeof keys === 'string' ? 1 : keys.size;
  }

  /** Deletes every entry of `group` (not counted as evictions); returns how many. O(its entries). */
  deleteGroup(group: string): number {
    const keys = this.groups?.get(group);
    if (keys === undefined) return 0;
    (this.groups as Map<string, string | Set<string>>).delete(group);
    if (typeof keys === 'string') {
      this.drop(keys);
      return 1;
    }
    for (const key of keys) this.drop(key);
    return keys.size;
  }

  /** Deletes a key from the map alone (its group index is the caller's), releasing its value. */
  private drop(key: string): void {
    if (this.release !== null) {
      const entry = this.map.get(key);
      if (entry !== undefined) this.release(entry.value);
    }
    this.map.delete(key);
  }

  /** How many groups have at least one entry. */
  get groupCount(): number {
    return this.groups?.size ?? 0;
  }

  /** Every group that has at least one entry. O(groups). */
  groupNames(): IterableIterator<string> {
    return (this.groups ?? EMPTY_GROUPS).keys();
  }

  /** Evictions since the last call, and one example key, then resets the count. */
  takeEvictions(): { count: number; example: string | null } {
    const out = { count: this.evictedSinceReport, example: this.lastEvictedKey };
    this.evictedSinceReport = 0;
    this.lastEvictedKey = null;
    return out;
  }

  /** Indexes `key` in its group; returns the group's keys (a Set only from two keys on). */
  private index(
    key: string,
    knownGroup: string | null,
  ): { size: number; values(): IterableIterator<string> } {
    const groups = this.groups as Map<string, string | Set<string>>;
    let group = knownGroup;
    if (group === null) {
      const at = key.indexOf(this.groupSep as string);
      if (at < 0) throw new Error(`${this.name} key without group separator: ${JSON.stringify(key)}`);
      group = key.slice(0, at);
    }
    const g = groups.get(group);
    if (g === undefined) {
      groups.set(group, key);
      return ONE_KEY;
    }
    if (typeof g === 'string') {
      const set = new Set([g, key]);
      groups.set(group, set);
      return set;
    }
    g.add(key);
    return g;
  }

  private unindex(key: string): void {
    if (this.groups === null) return;
    const sep = this.groupSep as string;
    const at = key.indexOf(sep);
    if (at < 0) return;
    const group = key.slice(0, at);
    const g = this.groups.get(group);
    if (g === undefined) return;
    if (typeof g === 'string') {
      if (g === key) this.groups.delete(group);
      return;
    }
    g.delete(key);
    // Back to the plain key when one is left, so a group that shrank costs what a fresh one does.
    if (g.size === 1) this.groups.set(group, g.values().next().value as string);
    else if (g.size === 0) this.groups.delete(group);
  }
}

const EMPTY_GROUPS = new Map<string, never>();
/** What `index` returns for a group of one key (never over a quota of at least one). */
const ONE_KEY = { size: 1, values: () => [][Symbol.iterator]() as IterableIterator<string> };
