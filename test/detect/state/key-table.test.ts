import { describe, expect, it } from 'vitest';
import { KeyTable } from '../../../src/detect/state/key-table.js';

const SEP = '\u0001';

/** What the group index must equal: the groups found by scanning every key of the table. */
function scanGroups(table: KeyTable<number>): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const [key, entry] of table.entries()) {
    const at = key.indexOf(SEP);
    const g = key.slice(0, at);
    if (!out.has(g)) out.set(g, new Map());
    out.get(g)?.set(key.slice(at + 1), entry.value);
  }
  return out;
}

function indexedGroups(table: KeyTable<number>): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const g of table.groupNames()) {
    out.set(g, new Map(table.group(g).map(([name, e]) => [name, e.value])));
  }
  return out;
}

describe('KeyTable group index', () => {
  it('stays equal to a scan of the table through inserts, touches, replaces, deletes and evictions', () => {
    const table = new KeyTable<number>('t', 40, SEP);
    // Deterministic pseudo-random operations over 10 groups x 12 names (120 keys > cap 40).
    let seed = 7;
    const next = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    let evictions = 0;
    for (let i = 0; i < 3000; i++) {
      const key = `id-${next(10)}${SEP}host-${next(12)}.example.com`;
      const op = next(10);
      if (op < 6) table.touch(key, i * 30_000, () => i);
      else if (op < 8) table.set(key, i, i);
      else if (op < 9) table.delete(key);
      else if (i % 50 === 0) {
        const group = key.slice(0, key.indexOf(SEP));
        const before = table.size;
        expect(table.deleteGroup(group)).toBe(before - table.size);
        expect(table.groupSize(group)).toBe(0);
      } else {
        const at = key.indexOf(SEP);
        table.setInGroup(key.slice(0, at), key.slice(at + 1), i, i);
      }
      evictions += table.takeEvictions().count;
      expect(table.size).toBeLessThanOrEqual(40);
    }
    expect(evictions).toBeGreaterThan(100);
    expect(indexedGroups(table)).toEqual(scanGroups(table));
    // No empty groups are left behind by evictions or deletes.
    for (const g of table.groupNames()) expect(table.groupSize(g)).toBeGreaterThan(0);
  });

  it('drops an evicted key from its group and the group itself when it was its last key', () => {
    const table = new KeyTable<number>('t', 2, SEP);
    table.set(`a${SEP}x`, 1);
    table.set(`b${SEP}y`, 2);
    table.set(`b${SEP}z`, 3); // evicts a/x, the coldest
    expect([...table.groupNames()]).toEqual(['b']);
    expect(table.groupSize('a')).toBe(0);
    expect(table.group('b').map(([name, e]) => [name, e.value])).toEqual([
      ['y', 2],
      ['z', 3],
    ]);
  });

  it('keeps a group through one key, several and back to one, and deletes a whole group', () => {
    const table = new KeyTable<number>('t', 10, SEP);
    table.set(`a${SEP}x`, 1);
    expect(table.group('a')).toEqual([['x', { value: 1, touched: 0 }]]);
    table.set(`a${SEP}y`, 2);
    table.set(`b${SEP}z`, 3);
    expect(table.group('a').map(([name]) => name)).toEqual(['x', 'y']);
    table.delete(`a${SEP}x`);
    expect(table.group('a').map(([name]) => name)).toEqual(['y']);
    expect(table.groupSize('a')).toBe(1);
    table.set(`a${SEP}w`, 4);
    expect(table.groupSize('a')).toBe(2);
    expect(table.deleteGroup('a')).toBe(2);
    expect(table.get(`a${SEP}y`)).toBeUndefined();
    expect(table.size).toBe(1);
    expect([...table.groupNames()]).toEqual(['b']);
    expect(table.groupCount).toBe(1);
    expect(table.deleteGroup('nobody')).toBe(0);
    // Deleting a group is not an eviction.
    expect(table.takeEvictions().count).toBe(0);
  });

  it('has no groups without a separator', () => {
    const table = new KeyTable<number>('t', 10);
    table.set('plain', 1);
    expect([...table.groupNames()]).toEqual([]);
    expect(table.groupSize('plain')).toBe(0);
  });
});
