/**
 * The first five minutes, end to end: `egress-sentinel demo` simulates two days with every attack,
 * replays them through the real pipeline, and must print a table of alerts in which every injected
 * attack is caught by its expected rule, and write the files it names (the HTML report included).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { demoCommand } from '../../src/cli/demo.js';
import { ATTACK_NAMES } from '../../src/simulate/attacks.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('demo', () => {
  it('catches every injected attack and writes alerts, flows, manifest and report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'demo-'));
    let stdout = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await demoCommand.run(['--out', out]);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\d+ alerts from \d+ log lines/m);
    expect(stdout).toMatch(/first seen \(UTC\)\s+rule\s+severity\s+source\s+destination\s+reason/);
    for (const name of ATTACK_NAMES)
      expect(stdout, stdout.slice(-1500)).toMatch(new RegExp(`caught\\s+${name}\\s`));
    for (const f of ['traffic.log', 'manifest.json', 'alerts.jsonl', 'flows.jsonl', 'report.html'])
      expect(existsSync(join(out, f))).toBe(true);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const rule of [
      'forbidden-destination',
      'gateway-bypass',
      'beaconing',
      'gateway-silence',
      'blocked-egress',
    ])
      expect(html).toContain(rule);
  }, 240_000);
});
