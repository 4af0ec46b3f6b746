/**
 * Issue #15: one input an attacker shaped (a line dated 2099 inside a record the shipper stamped
 * now, a bare line dated 2099, a record whose `log` holds a million `\u00e9` escapes) replays to the
 * end with event time intact and every line accounted for.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

import { replayCommand } from '../../src/cli/replay.js';
import { SentinelError } from '../../src/errors.js';
import { decoderOptions } from '../../src/parse/config.js';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { quiet } from '../helpers/quiet.js';
import { Stages } from '../helpers/stages.js';

const dir = mkdtempSync(join(tmpdir(), 'replay-hostile-'));
const HOUR = 3_600_000;

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

  it('replays a host flood with the future-dated and poison lines: bounded state, a handful of alerts, every line accounted for', () => {
    // Scaled down for CI (40,000 hosts, caps scaled down with it); 10^6 hosts: bench/flood.ts.
    const HOSTS = 40_000;
    const floodLine = (i: number, time: string) => {
      const ip = `203.0.${(i >> 8) & 255}.${i & 255}`;
      return `[${time}] "- - -" 0 - - - "-" 839 2504 231 - "-" "-" "-" "-" "${ip}:443" PassthroughCluster 10.1.2.3:40000 ${ip}:443 10.1.2.3:40000 h${i}.flood.example -`;
    };
    const shipped = traffic[5000] as string;
    const forged = shipped.replace(/\[2025-03-04T[\d:.]+Z\]/, '[2099-01-01T00:00:00.000Z]');
    const poison = JSON.stringify(JSON.parse(shipped)).replace(
      /"log":"/,
      `"log":"${'\\u00e9'.repeat(1_000_000)}`,
    );
    // Simulated traffic; from 02:00 on, 100 flood lines after each of its lines (at its time) until
    // 40,000 hosts were reached, and the hostile lines among them.
    const cut = traffic.findIndex((l) => l.includes('"time":"2025-03-04T02:'));
    const lines = traffic.slice(0, cut);
    let host = 0;
    for (const l of traffic.slice(cut)) {
      lines.push(l);
      const time = /\[(2025-[\d\-T:.]+Z)\]/.exec(l)?.[1];
      for (let k = 0; k < 100 && host < HOSTS && time !== undefined; k++) lines.push(floodLine(host++, time));
      if (host === HOSTS / 2 && time !== undefined) {
        // The same 2099 line bare, and a bare flood line three months on (behind the wall clock).
        const months = new Date(Date.parse(time) + 90 * 86_400_000).toISOString();
        lines.push(forged, JSON.parse(forged).log.trimEnd() as string, floodLine(HOSTS, months), poison);
      }
    }
    expect(host).toBe(HOSTS);
    const config = parsePipelineConfig({ detection: { maxKeys: 2000, maxStandingAlerts: 500 } }, '(test)');
    const p = new Stages({
      detection: config.detection,
      decoder: decoderOptions(config.parse),
      mesh: config.mesh,
      policies: new PolicySet([]),
    });
    const alerts: {
      '@timestamp': string;
      rule: { id: string };
      alert: { id: string };
      source: { ip: string | null };
      evidence: Record<string, unknown>;
    }[] = [];
    const dead: { reason: string }[] = [];
    let maxHosts = 0;
    for (let i = 0; i < lines.length; i += 4096) {
      p.processLines(lines.slice(i, i + 4096), 'file:hostile.log', (j) => String(i + j + 1));
      alerts.push(...p.takeAlerts());
      dead.push(...p.takeDeadLetters());
      maxHosts = Math.max(maxHosts, p.detection.engine.state.hosts.size);
      expect(p.detection.alerts.standingCount).toBeLessThanOrEqual(500);
    }
    p.finish();
    alerts.push(...p.takeAlerts());
    // Bounded: state at its cap, standing alerts well under theirs.
    expect(maxHosts).toBeLessThanOrEqual(2000);
    expect(p.detection.alerts.standingCount).toBeLessThan(100);
    // A handful of alerts: 20 single bypass alerts, one flood alert, the state-eviction alert.
    const fromFlood = new Set(alerts.filter((a) => a.source.ip === '10.1.2.3').map((a) => a.alert.id));
    expect(fromFlood.size).toBeLessThanOrEqual(21 * 2);
    const floodAlert = alerts.filter((a) => a.evidence.flood === true).pop();
    expect(floodAlert?.evidence.foldedFindings).toBe(HOSTS - 20);
    expect(alerts.some((a) => a.rule.id === 'state-eviction')).toBe(true);
    expect(new Set(alerts.map((a) => a.alert.id)).size).toBeLessThan(100);
    // Event time intact.
    for (const a of alerts) expect(a['@timestamp'] < '2025-03-05').toBe(true);
    expect(p.detection.engine.counters.late).toBeLessThan(50);
    // Every line accounted for: analysed or not egress, skipped, or dead-lettered with a reason.
    const c = p.counters;
    const skipped = [...c.skipped.values()].reduce((x, y) => x + y, 0);
    expect(c.lines).toBe(lines.length);
    expect(c.accessLines + skipped + c.malformed).toBe(lines.length);
    dead.push(...p.takeDeadLetters());
    expect(dead.map((d) => d.reason)).toEqual([
      expect.stringMatching(/ahead of the shipper's timestamp/),
      expect.stringMatching(/ahead of the wall clock/),
      expect.stringMatching(/^START_TIME 2025-06-0.* is 90 days ahead of the lines of its input around it/),
    ]);
  }, 60_000);

  it('keeps the alerts of a truncated .gz and goes on to the next input, then fails naming it', async () => {
    const whole = gzipSync(`${traffic.join('\n')}\n`);
    const cut = join(dir, 'cut.log.gz');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.8)));
    const later = join(dir, 'later.log');
    writeFileSync(
      later,
      '[2025-03-04T05:00:00.000Z] "- - -" 0 - - - "-" 839 2504 231 - "-" "-" "-" "-" "203.0.113.9:443" PassthroughCluster 10.1.2.3:40000 203.0.113.9:443 10.1.2.3:40000 after-the-cut.example -\n',
    );
    const alerts = join(dir, 'cut-alerts.jsonl');
    const run = await quiet(() => replayCommand.run(['--alerts', alerts, cut, later])).catch(
      (e: unknown) => e,
    );
    expect(run).toBeInstanceOf(SentinelError);
    expect((run as Error).message).toMatch(/cut\.log\.gz after line \d+/);
    const text = readFileSync(alerts, 'utf8');
    // The cut file's bypass attack (01:00 on) was read before the cut and is not thrown away...
    expect(text).toContain('"gateway-bypass"');
    expect(text).toContain('drop-files.net');
    // ...and the next input was replayed.
    expect(text).toContain('after-the-cut.example');
  });

  describe('a bare line far ahead of the lines around it (no shipper timestamp to check it against)', () => {
    const bare = generateTraffic({
      start: Date.parse('2025-03-04T00:00:00Z'),
      durationMs: 4 * HOUR,
      rate: 60,
      seed: 16,
      format: 'text',
      envelope: 'none',
      attacks: ['bypass'],
      attackStart: Date.parse('2025-03-04T01:00:00Z'),
    });
    const lines = [...bare];
    /** Replays `files` (name -> lines); returns the dead letters, the alerts' times and stderr. */
    async function replay(files: Record<string, string[]>) {
      const paths = Object.entries(files).map(([name, content]) => {
        const path = join(dir, name);
        writeFileSync(path, `${content.join('\n')}\n`);
        return path;
      });
      const alerts = join(dir, 'jump-alerts.jsonl');
      const dead = join(dir, 'jump-dead.jsonl');
      writeFileSync(dead, '');
      const run = await quiet(() =>
        replayCommand.run(['--alerts', alerts, '--dead-letters', dead, ...paths]),
      );
      expect(run.value).toBe(0);
      const letters = readFileSync(dead, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Dead);
      const times = readFileSync(alerts, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { '@timestamp': string })['@timestamp']);
      return { letters, times, stderr: run.stderr, late: Number(/late: (\d+)/.exec(run.stderr)?.[1] ?? 0) };
    }

    it('is dead-lettered with the reason when the lines after it go on where they were', async () => {
      expect(lines.length).toBeGreaterThan(6000);
      // Dated three months on: behind the wall clock, so only the stream's own clock contradicts it.
      const at = lines[5000] as string;
      const jumped = at.replace(/^\[2025-03-04T[\d:.]+Z\]/, '[2025-06-01T00:00:00.000Z]');
      expect(jumped).not.toBe(at);
      const hostile = [...lines.slice(0, 5000), jumped, ...lines.slice(5000)];
      const r = await replay({ 'jump.log': hostile });
      expect(r.letters).toHaveLength(1);
      expect(r.letters[0]?.origin).toMatch(/jump\.log:5001$/);
      expect(r.letters[0]?.raw).toBe(jumped);
      expect(r.letters[0]?.reason).toMatch(
        /START_TIME 2025-06-01T00:00:00.000Z is 8\d days ahead of the lines of its input around it \(newest 2025-03-04T/,
      );
      // Event time stayed with the stream: the bypass alerts are stamped on the 4th, nothing is late.
      expect(r.times.length).toBeGreaterThan(0);
      for (const t of r.times) expect(t < '2025-03-05').toBe(true);
      expect(r.late).toBe(0);
      expect(Number(/Replayed (\d+) lines/.exec(r.stderr)?.[1])).toBe(hostile.length);
    });

    it('leaves legitimate replays alone: a gap of days inside a file, and a second file days later', async () => {
      const shift = (l: string, days: number) =>
        l.replace(
          /^\[(2025-03-04T[\d:.]+Z)\]/,
          (_, t: string) => `[${new Date(Date.parse(t) + days * 86_400_000).toISOString()}]`,
        );
      const half = Math.floor(lines.length / 2);
      // The second half of the file three days after the first; the second file two days after that.
      const gap = [...lines.slice(0, half), ...lines.slice(half).map((l) => shift(l, 3))];
      const r = await replay({ 'gap.log': gap, 'later.log': lines.map((l) => shift(l, 5)) });
      expect(r.letters).toEqual([]);
      expect(r.late).toBe(0);
      expect(r.times.some((t) => t.startsWith('2025-03-09'))).toBe(true);
    });
  });
});
