/**
 * `npm run bench:flood-state [-- --hosts N] [-- --json]`: `replay` over two days of the simulated mesh
 * in which one frontend pod calls N (default 10^6) random hosts, each its own registrable domain,
 * within two hours of day two, and app A then uploads 100x its usual to api.ibm.com. Prints the
 * replay's peak RSS (VmHWM of the child process), the state-eviction alerts and whether app A's
 * upload was still found, with the default `maxKeys` and `maxKeysPerIdentity`.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  benignGenerators,
  type TrafficContext,
  type TrafficGenerator,
  viaGateway,
} from '../src/simulate/benign.js';
import { wrapLine } from '../src/simulate/envelope.js';
import { DEFAULT_START } from '../src/simulate/generate.js';
import type { SimRecord } from '../src/simulate/record.js';
import { renderLine } from '../src/simulate/render.js';
import { forkRng } from '../src/simulate/rng.js';
import { Cluster, DAY, HOUR, MINUTE, WORKLOADS } from '../src/simulate/topology.js';
import { EXFIL_TARGETS, exfiltration } from './quality-attacks.js';

const WINDOW = 10 * MINUTE;

/** Writes the input file; returns its line count. */
async function writeInput(file: string, hosts: number): Promise<number> {
  const start = DEFAULT_START;
  const end = start + 2 * DAY;
  const ctx: TrafficContext = {
    cluster: new Cluster(7, start, end),
    seed: 7,
    rate: 40,
    gatewayLogsAt: () => true,
    tcpHopSni: 'host',
  };
  const floodFrom = start + DAY + 10 * HOUR;
  const floodTo = floodFrom + 2 * HOUR;
  const rng = forkRng(7, 'flood');
  let sent = 0;
  const flood: TrafficGenerator = {
    generate(from, to, out) {
      for (; sent < hosts; sent++) {
        const t = floodFrom + Math.floor((sent * (floodTo - floodFrom)) / hosts);
        if (t >= to) return;
        if (t < from) continue;
        const pod = ctx.cluster.podAt(WORKLOADS.frontend, t, rng);
        if (pod) out.push(...viaGateway(ctx, rng, t, pod, `h.r${rng.alnum(10)}.net`, 400, 900, 20));
      }
    },
  };
  const upload = exfiltration(EXFIL_TARGETS[0], 100, 20, floodTo + 30 * MINUTE, () => 20_000);
  const generators = [...benignGenerators(ctx), flood, upload.generator(ctx, 7)];
  const out = createWriteStream(file);
  let lines = 0;
  let pending: SimRecord[] = [];
  let chunk: string[] = [];
  const write = async (r: SimRecord) => {
    chunk.push(wrapLine(renderLine(r, 'json'), r, 'fluent-bit'));
    lines++;
    if (chunk.length === 10_000) {
      if (!out.write(`${chunk.join('\n')}\n`))
        await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = [];
    }
  };
  for (let from = start; from < end; from += WINDOW) {
    for (const g of generators) g.generate(from, Math.min(end, from + WINDOW), pending);
    pending.sort((a, b) => a.emit - b.emit || a.start - b.start);
    let cut = 0;
    while (cut < pending.length && (pending[cut] as SimRecord).emit < from + WINDOW)
      await write(pending[cut++] as SimRecord);
    pending = pending.slice(cut);
  }
  for (const r of pending) await write(r);
  out.write(chunk.length > 0 ? `${chunk.join('\n')}\n` : '');
  await new Promise<void>((resolve) => out.end(resolve));
  return lines;
}

/** Runs replay in a child; returns its peak RSS (bytes) from /proc and its wall time. */
function replay(input: string, alerts: string): Promise<{ peakRss: number; seconds: number }> {
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const t0 = performance.now();
  const child = spawn(process.execPath, [main, 'replay', '--alerts', alerts, input], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m !== null) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      // Exited between polls.
    }
  }, 100);
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      clearInterval(poll);
      if (code !== 0) reject(new Error(`replay exited with ${code}`));
      else resolve({ peakRss: peak, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--hosts');
  const hosts = at >= 0 ? Number(args[at + 1]) : 1_000_000;
  if (!Number.isInteger(hosts) || hosts <= 0)
    throw new Error(`--hosts expects a positive integer, got ${args[at + 1]}`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-flood-'));
  try {
    const input = join(dir, 'flood.log');
    const alertsFile = join(dir, 'alerts.jsonl');
    const lines = await writeInput(input, hosts);
    const { peakRss, seconds } = await replay(input, alertsFile);
    const alerts = readFileSync(alertsFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(
        (l) =>
          JSON.parse(l) as { rule: { id: string }; source: { namespace: string | null }; reason: string },
      );
    const evictions = alerts.filter((a) => a.rule.id === 'state-eviction');
    const upload = alerts.find((a) => a.rule.id === 'volume-spike' && a.source.namespace === 'app-a');
    const result = {
      bench: 'replay flood',
      hosts,
      lines,
      peakRssMB: Math.round(peakRss / 1e6),
      seconds: Math.round(seconds),
      stateEvictionAlerts: evictions.length,
      uploadAfterFloodFound: upload !== undefined,
      uploadReason: upload?.reason ?? null,
    };
    if (args.includes('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
    else
      process.stdout.write(
        `replay of ${lines.toLocaleString('en-US')} lines, ${hosts.toLocaleString('en-US')} random hosts from one pod: peak RSS ${result.peakRssMB} MB, ${result.seconds} s, ${evictions.length} state-eviction alerts; app A's upload after the flood ${upload === undefined ? 'NOT found' : `found: ${upload.reason}`}\n`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
