/**
 * Host-flood benchmark (issue #15 item 2): `replay` of N lines of one sidecar reaching N distinct
 * external hosts through PassthroughCluster, against `replay` of N lines of simulated mesh traffic
 * (same TEXT format, no envelope). Each replay runs in a child process of its own (file -> alerts
 * file, default config), alternately, best of `--rounds`; printed: lines per CPU second of the
 * child (and per wall second), alert records written, peak RSS of the child, and the flood/normal
 * ratio of lines per CPU second.
 *
 * `--hostile`: the flood input also carries, at its middle, the future-dated lines and the poison
 * record of issue #15 (a shipper record whose line claims 2099, the same line bare, a bare line
 * three months ahead of the flood, a record whose `log` holds a million `\u00e9` escapes); printed
 * for the flood replay: its dead letters by reason, the lines counted late, the newest alert time.
 *
 *   npm run bench:flood -- [--hosts 1000000] [--rounds 2] [--hostile]
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
  /** From the replay's summary. */
  late: number;
  replayed: number;
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

function* floodLines(n: number, hostile: boolean): Generator<string> {
  for (let i = 0; ; i++) {
    if (hostile && i === Math.floor(n / 2)) yield* hostileLines(i);
    yield floodLine(i);
  }
}

/** Issue #15's future-dated lines and poison record, among the flood at line `i` (see the top). */
function hostileLines(i: number): string[] {
  const shippedAt = new Date(T0 + 3_600_000 + i).toISOString();
  const record = (log: string) =>
    JSON.stringify({
      time: shippedAt,
      stream: 'stdout',
      log,
      kubernetes: { pod_name: 'web-1', namespace_name: 'web', container_name: 'istio-proxy' },
    });
  const in2099 = floodLine(i, Date.parse('2099-01-01T00:00:00Z'));
  return [
    record(in2099),
    in2099,
    floodLine(i, T0 + 3_600_000 + i + 90 * 86_400_000),
    record('').replace('"log":""', `"log":"${'\\u00e9'.repeat(1_000_000)}"`),
  ];
}

/** What a replay of the hostile flood left: dead letters by reason, late lines, newest alert time. */
interface Outcome {
  deadLetters: Record<string, number>;
  late: number;
  replayed: number;
  newestAlert: string;
}

async function child(input: string, alerts: string): Promise<void> {
  const write = process.stderr.write.bind(process.stderr);
  let summary = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    if (summary.length < 100_000) summary += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await replayCommand.run(['--alerts', alerts, '--dead-letters', `${alerts}.dead`, input]);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  process.stderr.write = write;
  const timing: Timing = {
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    late: Number(/late: (\d+)/.exec(summary)?.[1] ?? 0),
    replayed: Number(/Replayed (\d+) lines/.exec(summary)?.[1] ?? 0),
  };
  process.stdout.write(JSON.stringify(timing));
}

function outcome(alerts: string, t: Timing): Outcome {
  const deadLetters: Record<string, number> = {};
  for (const line of readFileSync(`${alerts}.dead`, 'utf8').split('\n')) {
    if (line === '') continue;
    const reason = (JSON.parse(line) as { reason: string }).reason;
    const kind = / ahead of [^(]*?(?= \d{4}-|\(|$)/.exec(reason)?.[0] ?? reason.slice(0, 60);
    deadLetters[kind] = (deadLetters[kind] ?? 0) + 1;
  }
  let newestAlert = '';
  for (const line of readFileSync(alerts, 'utf8').split('\n')) {
    const at = /"@timestamp":"([^"]+)"/.exec(line)?.[1];
    if (at !== undefined && at > newestAlert) newestAlert = at;
  }
  return { deadLetters, late: t.late, replayed: t.replayed, newestAlert };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '1000000' },
      rounds: { type: 'string', default: '2' },
      hostile: { type: 'boolean', default: false },
    },
  });
  const hostile = values.hostile === true;
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
  const floodCount = await writeLines(flood, floodLines(n, hostile), n + (hostile ? 4 : 0));
  const best = new Map<string, Timing & { alerts: number }>();
  let hostileOutcome: Outcome | null = null;
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
      if (hostile && name === 'flood') hostileOutcome = outcome(alerts, t);
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
  const o = hostileOutcome as Outcome | null;
  if (o !== null)
    process.stdout.write(
      `  hostile lines in the flood: ${o.replayed.toLocaleString('en-US')} of ${floodCount.toLocaleString('en-US')} lines replayed; dead letters ${JSON.stringify(o.deadLetters)}; late ${o.late}; newest alert ${o.newestAlert}\n`,
    );
}

if (process.argv[2] === '--child') await child(process.argv[3] as string, process.argv[4] as string);
else await main();
