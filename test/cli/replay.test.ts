import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { replayCommand } from '../../src/cli/replay.js';
import { SentinelError } from '../../src/errors.js';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { Detection } from '../../src/pipeline/detection.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { quiet } from '../helpers/quiet.js';
import { Stages } from '../helpers/stages.js';

const dir = mkdtempSync(join(tmpdir(), 'replay-'));
const HOUR = 3_600_000;
const traffic = generateTraffic({
  durationMs: 30 * HOUR,
  rate: 20,
  seed: 3,
  format: 'text',
  envelope: 'fluent-bit',
  attacks: ['bypass', 'blocked-probing'],
  attackStart: Date.parse('2025-03-04T03:07:00Z'),
});
const input = join(dir, 'mesh.log.gz');
const lines = [...traffic];
writeFileSync(
  input,
  gzipSync(`${lines.join('\n')}\n[2025-03-04T10:00:00.000Z] "GET / HTTP/1.1" not-a-code\n`),
);

// Each test replays a simulated day or two (2-5 s on an idle machine): room for a shared, busy one.
describe('egress-sentinel replay', { timeout: 30_000 }, () => {
  it('gives byte-identical alerts when the same gzip input is replayed twice', async () => {
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.jsonl');
    const first = await quiet(() => replayCommand.run(['--alerts', a, input]));
    await quiet(() => replayCommand.run(['--alerts', b, input]));
    expect(first.value).toBe(0);
    const text = readFileSync(a, 'utf8');
    expect(text).toBe(readFileSync(b, 'utf8'));
    const rules = new Set(
      text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { rule: { id: string } }).rule.id),
    );
    expect(rules).toContain('gateway-bypass');
    expect(rules).toContain('blocked-egress');
    expect(first.stderr).toMatch(/Replayed \d+ lines/);
    expect(first.stderr).toMatch(/gateway-bypass: \d+/);
  });

  it('advances event time once per 4096 lines however the input is read, as a direct 4096-line batch run does', async () => {
    const all = [...lines, '[2025-03-04T10:00:00.000Z] "GET / HTTP/1.1" not-a-code'];
    const config = parsePipelineConfig({}, '(defaults)');
    const direct = new Stages({
      detection: config.detection,
      decoder: { format: config.parse.format },
      mesh: config.mesh,
      policies: new PolicySet([]),
    });
    for (let i = 0; i < all.length; i += 4096)
      direct.processLines(all.slice(i, i + 4096), `file:${input}`, (j) => String(i + j + 1));
    direct.finish();
    const expected = direct
      .takeAlerts()
      .map((a) => `${JSON.stringify(a)}\n`)
      .join('');
    expect(expected.length).toBeGreaterThan(0);

    const advance = vi.spyOn(Detection.prototype, 'advance');
    try {
      const out = join(dir, 'direct.jsonl');
      await quiet(() => replayCommand.run(['--alerts', out, input]));
      expect(advance).toHaveBeenCalledTimes(Math.ceil(all.length / 4096));
      expect(readFileSync(out, 'utf8')).toBe(expected);
    } finally {
      advance.mockRestore();
    }
  });

  it('saves learned state with --state and loads it on the next run', async () => {
    const state = join(dir, 'state');
    await quiet(() => replayCommand.run(['--alerts', join(dir, 's1.jsonl'), '--state', state, input]));
    const saved = readFileSync(join(state, 'detection-state.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(saved[0] as string)).toMatchObject({ version: 1 });
    expect(saved.some((l) => l.includes('"identity":"app-a/app-a"'))).toBe(true);
    // A restart with the state does not re-learn: a new host for app-a right away is reported.
    const line = lines.find(
      (l) => l.includes('app-a-') && l.includes('api.ibm.com') && l.includes('outbound|443|'),
    );
    expect(line).toBeDefined();
    const later = (line as string)
      .replaceAll(/2025-03-0\dT\d\d:\d\d:\d\d/g, '2025-03-05T10:00:00')
      .replaceAll('api.ibm.com', 'brand-new-host.example.org');
    const next = join(dir, 'next.log');
    writeFileSync(next, `${later}\n`);
    const out = join(dir, 's2.jsonl');
    await quiet(() => replayCommand.run(['--alerts', out, '--state', state, next]));
    expect(readFileSync(out, 'utf8')).toContain('brand-new-host.example.org');
    const fresh = join(dir, 's3.jsonl');
    await quiet(() => replayCommand.run(['--alerts', fresh, next]));
    expect(readFileSync(fresh, 'utf8')).toBe('');
  });

  it('writes malformed lines to the dead-letter file with file and line', async () => {
    await quiet(() =>
      replayCommand.run(['--alerts', join(dir, 'd.jsonl'), '--dead-letters', join(dir, 'dead.jsonl'), input]),
    );
    const dead = readFileSync(join(dir, 'dead.jsonl'), 'utf8').trim().split('\n');
    expect(dead.length).toBeGreaterThan(0);
    const skippedOrDead = JSON.parse(dead[0] as string) as { origin: string };
    expect(skippedOrDead.origin).toContain(`${input}:`);
  });

  it('names the file and the last line read when a gzip input is truncated', async () => {
    const whole = gzipSync(`${lines.join('\n')}\n`);
    const cut = join(dir, 'cut.log.gz');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const err = await quiet(() => replayCommand.run(['--alerts', join(dir, 'c.jsonl'), cut])).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SentinelError);
    expect((err as Error).message).toMatch(/cut\.log\.gz after line \d+/);
  });

  it('names the file when an input cannot be read, without a stack trace', async () => {
    const err = await replayCommand
      .run(['--alerts', join(dir, 'x.jsonl'), join(dir, 'missing.log')])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SentinelError);
    expect((err as Error).message).toContain('missing.log');
  });
});
