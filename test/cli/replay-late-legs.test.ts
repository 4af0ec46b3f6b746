/**
 * `replay` of a file in the order Envoy writes lines: at a connection's close, stamped with its start
 * (test/helpers/envoy-close-order.ts: the published plain-TCP pair per connection). Long connections'
 * lines come after the lines of connections that started later, and where a batch boundary falls
 * between a connection's two lines one leg is late and the other is not. Attack-free traffic: no
 * unaccounted-gateway-leg alert, and no line lost (every line is analysed, joined to its other leg,
 * or dead-lettered with its reason).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replayCommand } from '../../src/cli/replay.js';
import { type Connection, inCloseOrder } from '../helpers/envoy-close-order.js';
import { quiet } from '../helpers/quiet.js';

const T0 = Date.parse('2022-02-19T09:31:00.000Z');

/**
 * Two client pods, a connection every 4 ms (alternating), for `seconds`: 70 % short (20 ms), 30 %
 * long (5.5-8 s: past the 5 s lateness); each gateway line written within 40 ms of its sidecar's,
 * before or after it. Deterministic (a fixed linear congruential sequence).
 */
function closeOrderTraffic(seconds: number): Connection[] {
  let x = 12_345;
  const next = () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
  const out: Connection[] = [];
  for (let i = 0; i * 4 < seconds * 1000; i++) {
    const sidecarMs = next() < 0.3 ? 5_500 + Math.floor(next() * 2_500) : 20;
    out.push({
      client: i % 2,
      start: T0 + i * 4,
      sidecarMs,
      // The gateway's leg starts 1 ms after the sidecar's: it cannot be written before that.
      gatewayWrittenAfterMs: Math.max(Math.floor(next() * 81) - 40, 2 - sidecarMs),
      port: 10_000 + i,
    });
  }
  return out;
}

describe('replay of lines in Envoy close order', { timeout: 60_000 }, () => {
  it('gives no unaccounted-gateway-leg alert on attack-free traffic and loses no line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'late-legs-'));
    const lines = inCloseOrder(closeOrderTraffic(150)).map((l) => l.line);
    const input = join(dir, 'close-order.log');
    writeFileSync(input, `${lines.join('\n')}\n`);
    const alerts = join(dir, 'alerts.jsonl');
    const dead = join(dir, 'dead.jsonl');
    const { value, stderr } = await quiet(() =>
      replayCommand.run(['--alerts', alerts, '--dead-letters', dead, input]),
    );
    expect(value).toBe(0);
    const rules = readFileSync(alerts, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { rule: { id: string } }).rule.id);
    expect(rules.filter((r) => r === 'unaccounted-gateway-leg' || r === 'gateway-silence')).toEqual([]);

    // Every line read as an egress event; those behind the watermark either joined their other leg
    // or are dead letters with the line and the reason.
    const summary =
      /access lines: (\d+) \(egress analysed: (\d+), .*late: (\d+), dead-lettered; late legs joined to their connection's other leg: (\d+), and (\d+) after their dead letter\)/.exec(
        stderr,
      );
    expect(summary, stderr).not.toBeNull();
    const [accessLines, events, late, joinedLate, afterDeadLetter] = (summary as RegExpExecArray)
      .slice(1)
      .map(Number);
    expect(accessLines).toBe(lines.length);
    expect(events).toBe(lines.length);
    expect(joinedLate).toBeGreaterThan(0);
    // Legs whose other leg started a few ms later, across the watermark: dead-lettered, then taken up.
    expect(afterDeadLetter).toBeGreaterThan(0);
    expect(afterDeadLetter).toBeLessThan(late as number);
    const letters = readFileSync(dead, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { component: string; reason: string; raw: string });
    expect(letters.length).toBe(late);
    expect(late).toBeGreaterThan(0);
    for (const d of letters) {
      expect(d.component).toBe('late');
      expect(d.reason).toMatch(/^late event: its time .* behind the watermark/);
      expect(lines).toContain(d.raw);
    }
  });
});
