/**
 * Host-flood benchmark (issue #15 item 2): `replay` of N lines of one sidecar reaching N distinct
 * external hosts through PassthroughCluster, against `replay` of N lines of simulated mesh traffic
 * (same TEXT format, no envelope). Each replay runs in a child process of its own (file -> alerts
 * file, default config), alternately, best of `--rounds`; printed: lines per CPU second of the
 * child (and per wall second), alert records written, peak RSS of the child, and the flood/normal
 * ratio of lines per CPU second.
 *
 *   npm run build && flock /work/bench.lock node dist/bench/flood.js [--hosts 1000000] [--rounds 2]
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { replayCommand } from '../src/cli/replay.js';
import { generateTraffic } from '../src/simulate/generate.js';

const T0 = Date.parse('2025-03-04T00:00:00Z');

/** One TLS passthrough connection from 10.1.2.3 to host i (SNI h<i>.flood.example, its own IP), 1 ms apart. */
export function floodLine(i: number, start = T0 + 3_600_000): string {
  const t = new Date(start + i).toISOString();
  const ip = `203.0.${(i >> 8) & 255}.${i & 255}`;
  return `[${t}] "- - -" 0 - - - "-" 839 2504 231 - "-" "-" "-" "-" "${ip}:443" PassthroughCluster 10.1.2.3:40000 ${ip}:443 10.1.2.3:40000 h${i}.flood.example -`;
}

interface Timing {
  /** Wall seconds of the replay. */
  seconds: number;
  /** CPU seconds (user + system) of the child: less at the mercy of a shared machine's load. */
  cpuSeconds: number;
  maxRssMB: number;
}

async function writeLines(path: string, lines: Iterable<string>, n: number): Promise<number> {
  const out = createWriteStream(path);
  let count = 0;
  let chunk = '';
  for (const line of lines) {
    chunk += `${line}\n`;
    if (++count % 10_000 === 0) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      chunk = '';
    }
    if (count === n) break;
  }
  out.write(chunk);
  await new Promise<void>((r) => out.end(() => r()));
  return count;
}

function* floodLines(): Generator<string> {
  for (let i = 0; ; i++) yield floodLine(i);
}

async function child(input: string, alerts: string): Promise<void> {
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (() => true) as typeof process.stderr.write;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await replayCommand.run(['--alerts', alerts, input]);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  process.stderr.write = write;
  const timing: Timing = {
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(JSON.stringify(timing));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { hosts: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '2' } },
  });
  const n = Number(values.hosts);
  const rounds = Number(values.rounds);
  const dir = mkdtempSync(join(tmpdir(), 'bench-flood-'));
  const normal = join(dir, 'normal.log');
  const flood = join(dir, 'flood.log');
  const traffic = generateTraffic({
    start: T0,
    durationMs: 30 * 86_400_000,
    rate: 120,
    seed: 1,
    format: 'text',
    envelope: 'none',
    attacks: [],
  });
  const normalCount = await writeLines(normal, traffic, n);
  await writeLines(flood, floodLines(), n);
  const best = new Map<string, Timing & { alerts: number }>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, input] of [
      ['normal', normal],
      ['flood', flood],
    ] as const) {
      const alerts = join(dir, `${name}.alerts.jsonl`);
      const c = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', input, alerts], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 20,
      });
      if (c.status !== 0) throw new Error(`replay of ${name} exited with ${c.status ?? c.signal}`);
      const t = JSON.parse(c.stdout) as Timing;
      const count = readFileSync(alerts, 'utf8').split('\n').length - 1;
      const prev = best.get(name);
      if (prev === undefined || t.cpuSeconds < prev.cpuSeconds) best.set(name, { ...t, alerts: count });
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const line = (name: string, lines: number) => {
    const t = best.get(name) as Timing & { alerts: number };
    return `  ${name.padEnd(7)} ${Math.round(lines / t.cpuSeconds).toLocaleString('en-US')} lines per CPU second (${Math.round(lines / t.seconds).toLocaleString('en-US')} lines/s wall), ${t.alerts} alert records, peak RSS ${Math.round(t.maxRssMB)} MB`;
  };
  const ratio =
    n / (best.get('flood') as Timing).cpuSeconds / (normalCount / (best.get('normal') as Timing).cpuSeconds);
  process.stdout.write(
    `replay of ${n.toLocaleString('en-US')} lines each (normal: ${normalCount.toLocaleString('en-US')}), best of ${rounds}\n${line('normal', normalCount)}\n${line('flood', n)}\n  flood/normal line rate (CPU): ${ratio.toFixed(2)}\n`,
  );
}

if (process.argv[2] === '--child') await child(process.argv[3] as string, process.argv[4] as string);
else await main();
