/**
 * Issue #14: `replay` and `run` are one pipeline. Over the same file, with the same batches, they
 * write the same alerts and the same dead letters (unreadable and late lines) byte for byte, and
 * count the same per component.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { replayCommand } from '../../src/cli/replay.js';
import { runCommand } from '../../src/cli/run.js';
import type { ComponentCounts } from '../../src/observability/telemetry.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import { quiet } from '../helpers/quiet.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'parity-'));
const traffic = [
  ...generateTraffic({
    durationMs: 30 * HOUR,
    rate: 20,
    seed: 11,
    format: 'json',
    envelope: 'none',
    attacks: ['bypass', 'forbidden', 'blocked-probing'],
    attackStart: Date.parse('2025-03-04T02:00:00Z'),
  }),
];
const middle = Math.floor(traffic.length / 2);
// The first hour's lines again in the middle (late: dead-lettered with their bytes), an unreadable
// TEXT line, an Envoy message (skipped), and a JSON access line with no time at all.
const input = join(dir, 'mesh.log');
writeFileSync(
  input,
  `${[
    ...traffic.slice(0, middle),
    ...traffic.slice(0, 300),
    '[2025-03-04T10:00:00.000Z] "GET / HTTP/1.1" not-a-code',
    '2025-03-04T10:00:01.000000Z\tinfo\tenvoy upstream\tcluster warming',
    JSON.stringify({ authority: 'evil.example', upstream_cluster: 'PassthroughCluster', response_code: 200 }),
    ...traffic.slice(middle),
  ].join('\n')}\n`,
);
const POLICY = join(process.cwd(), 'deploy/istio/authorization-policy.yaml');

/** replay's summary lines `    ID: in / out / discarded / errors / dead letters`. */
function replayComponents(stderr: string): Record<string, ComponentCounts> {
  const out: Record<string, ComponentCounts> = {};
  for (const m of stderr.matchAll(/^ {4}(\S+): (\d+) \/ (\d+) \/ (\d+) \/ (\d+) \/ (\d+)$/gm)) {
    const [received, sent, discarded, errors, deadLetters] = m.slice(2).map(Number) as number[];
    out[m[1] as string] = {
      received: received as number,
      sent: sent as number,
      discarded: discarded as number,
      errors: errors as number,
      deadLetters: deadLetters as number,
    };
  }
  return out;
}

/** run's last log line: `... components="{...}"` (logfmt, the value a JSON string). */
function runComponents(stderr: string): Record<string, ComponentCounts> {
  const m = / components=("(?:[^"\\]|\\.)*")/.exec(stderr);
  expect(m).not.toBeNull();
  return JSON.parse(JSON.parse(m?.[1] as string)) as Record<string, ComponentCounts>;
}

describe('replay and run over the same input', { timeout: 60_000 }, () => {
  it('write the same alerts and dead letters, and count the same per component', async () => {
    const replayAlerts = join(dir, 'replay-alerts.jsonl');
    const replayDead = join(dir, 'replay-dead.jsonl');
    const replayed = await quiet(() =>
      replayCommand.run(['--policy', POLICY, '--alerts', replayAlerts, '--dead-letters', replayDead, input]),
    );
    expect(replayed.value).toBe(0);

    const runAlerts = join(dir, 'run-alerts.jsonl');
    const runDead = join(dir, 'run-dead.jsonl');
    const config = join(dir, 'file.yaml');
    writeFileSync(
      config,
      stringify({
        name: 'parity',
        // replay reads 512 lines at a time and advances event time every 4096 lines.
        sources: [{ type: 'file', path: input, batchSize: 4096 }],
        sinks: [{ type: 'file', path: runAlerts, include: ['alerts'] }],
        delivery: { deadLetterFile: runDead },
        flows: { enabled: false },
        metrics: { enabled: false },
        policies: [POLICY],
      }),
    );
    const ran = await quiet(() => runCommand.run(['--config', config]));
    expect(ran.value).toBe(0);

    const alerts = readFileSync(replayAlerts, 'utf8');
    expect(alerts.split('\n').length).toBeGreaterThan(10);
    expect(readFileSync(runAlerts, 'utf8')).toBe(alerts);

    const dead = readFileSync(replayDead, 'utf8');
    const components = new Set(
      dead
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { component: string }).component),
    );
    expect(components).toEqual(new Set(['parse', 'late']));
    expect(readFileSync(runDead, 'utf8')).toBe(dead);

    const r = replayComponents(replayed.stderr);
    const p = runComponents(ran.stderr);
    expect(r.ingest?.errors).toBe(2);
    expect(r.ingest?.discarded).toBeGreaterThan(1000);
    expect(r.detection?.deadLetters).toBeGreaterThan(0);
    for (const id of [`source:file:${input}`, 'ingest', 'detection']) expect(p[id]).toEqual(r[id]);
    expect(p[`sink:file:${runAlerts}`]?.received).toBe(r[`sink:file:${replayAlerts}`]?.received);
  });
});
