/**
 * Issue #15: one input an attacker shaped (a line dated 2099 inside a record the shipper stamped
 * now, a bare line dated 2099, a record whose `log` holds a million `\u00e9` escapes) replays to the
 * end with event time intact and every line accounted for.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replayCommand } from '../../src/cli/replay.js';
import { generateTraffic } from '../../src/simulate/generate.js';

const dir = mkdtempSync(join(tmpdir(), 'replay-hostile-'));
const HOUR = 3_600_000;

async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: await fn(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

const traffic = [
  ...generateTraffic({
    start: Date.parse('2025-03-04T00:00:00Z'),
    durationMs: 4 * HOUR,
    rate: 60,
    seed: 15,
    format: 'text',
    envelope: 'fluent-bit',
    attacks: ['bypass'],
    attackStart: Date.parse('2025-03-04T01:00:00Z'),
  }),
];

interface Dead {
  origin: string;
  reason: string;
  raw: string;
}

describe('replay of hostile input', () => {
  it('dead-letters future-dated lines with the reason and keeps event time where the stream is', async () => {
    expect(traffic.length).toBeGreaterThan(6000);
    const lines = [...traffic];
    // A record the shipper stamped in 2025 whose line claims 2099 (the workload wrote it).
    const shipped = lines[5000] as string;
    const forged = shipped.replace(/\[2025-03-04T[\d:.]+Z\]/, '[2099-01-01T00:00:00.000Z]');
    expect(forged).not.toBe(shipped);
    const bare = JSON.parse(forged).log.trimEnd() as string;
    lines.splice(5000, 0, forged, bare);
    // The poison record: a million escapes in `log`.
    const poison = JSON.stringify(JSON.parse(shipped)).replace(
      /"log":"/,
      `"log":"${'\\u00e9'.repeat(1_000_000)}`,
    );
    lines.splice(5500, 0, poison);
    const input = join(dir, 'hostile.log');
    writeFileSync(input, `${lines.join('\n')}\n`);
    const alerts = join(dir, 'alerts.jsonl');
    const dead = join(dir, 'dead.jsonl');
    const run = await quiet(() => replayCommand.run(['--alerts', alerts, '--dead-letters', dead, input]));
    expect(run.value).toBe(0);

    const letters = readFileSync(dead, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Dead);
    const byLine = new Map(letters.map((d) => [d.origin.slice(d.origin.lastIndexOf(':') + 1), d]));
    expect(byLine.get('5001')?.reason).toMatch(
      /START_TIME 2099-01-01T00:00:00.000Z is \d+ days ahead of the shipper's timestamp 2025-03-04T/,
    );
    expect(byLine.get('5001')?.raw).toBe(forged);
    expect(byLine.get('5002')?.reason).toMatch(/ahead of the wall clock/);
    // The poison record is read (not thrown on): its payload starts with the escapes, so it is
    // counted as a line that is not an access line.
    expect(byLine.has('5501')).toBe(false);
    expect(run.stderr).toContain('not an access line (neither TEXT nor JSON): 1');

    const written = readFileSync(alerts, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { '@timestamp': string; rule: { id: string } });
    expect(written.some((a) => a.rule.id === 'gateway-bypass')).toBe(true);
    for (const a of written) expect(a['@timestamp'] < '2025-03-05').toBe(true);
    // Every line accounted for; none of the later lines counted late (1,819 were before).
    const replayed = Number(/Replayed (\d+) lines/.exec(run.stderr)?.[1]);
    expect(replayed).toBe(lines.length);
    expect(Number(/late: (\d+)/.exec(run.stderr)?.[1])).toBeLessThan(50);
  });
});
