/**
 * `npm run bench` (detection part): end-to-end replay throughput (file -> alerts file) for simulated
 * mesh traffic, and memory per (identity, destination) key of the detection state with hour-of-day
 * buckets (heapUsed delta after gc over 100k keys; run with --expose-gc). `--json` prints one JSON
 * object per figure; `--replay-only` skips the memory and detection-only figures. Numbers are noisy
 * on a shared machine.
 *
 * Replay is timed in a child process pinned to one CPU with `taskset` (when it exists), so GC helper
 * threads and the file reads share that core too: lines/s = lines in the file / wall seconds from
 * `replay` starting (open) to the alerts file flushed and closed, best of 3; CPU seconds are printed
 * beside it.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AlertStage, alertStageOptions } from '../src/alerts/stage.js';
import type { Alert } from '../src/alerts/types.js';
import { replayCommand } from '../src/cli/replay.js';
import { buildDetection } from '../src/detect/build.js';
import { DetectionConfigSchema } from '../src/detect/config.js';
import { BASELINE_BYTES, type Baseline, BaselinePool } from '../src/detect/state/baseline.js';
import { MeshConfigSchema } from '../src/identity/config.js';
import { cloneEgressEvent, newEgressEvent } from '../src/identity/event.js';
import type { EgressEvent } from '../src/identity/types.js';
import { Ingest } from '../src/pipeline/ingest.js';
import { PolicySet } from '../src/policy/policy-set.js';
import type { EnvelopeName } from '../src/simulate/envelope.js';
import { generateTraffic } from '../src/simulate/generate.js';
import type { LogFormat } from '../src/simulate/render.js';

const asJson = process.argv.includes('--json');
const gc = (globalThis as { gc?: () => void }).gc;

function report(name: string, value: number, unit: string, extra: Record<string, unknown> = {}): void {
  if (asJson)
    process.stdout.write(`${JSON.stringify({ bench: name, value: Math.round(value), unit, ...extra })}\n`);
  else
    process.stdout.write(
      `${name.padEnd(44)} ${Math.round(value).toLocaleString('en-US').padStart(12)} ${unit}${Object.keys(extra).length > 0 ? `  ${JSON.stringify(extra)}` : ''}\n`,
    );
}

async function replayThroughput(format: LogFormat, envelope: EnvelopeName): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-detect-'));
  const input = join(dir, 'mesh.log');
  const traffic = generateTraffic({
    durationMs: 3 * 86_400_000,
    rate: 60,
    seed: 1,
    format,
    envelope,
    attacks: ['forbidden', 'bypass', 'upload-spike', 'beaconing', 'subdomain-spray', 'gateway-silence'],
  });
  let count = 0;
  let chunk: string[] = [];
  writeFileSync(input, '');
  for (const line of traffic) {
    chunk.push(line);
    count++;
    if (chunk.length === 50_000) {
      appendFileSync(input, `${chunk.join('\n')}\n`);
      chunk = [];
    }
  }
  appendFileSync(input, chunk.length > 0 ? `${chunk.join('\n')}\n` : '');
  const bytes = statSync(input).size;
  const alerts = join(dir, 'alerts.jsonl');
  // One CPU for the whole replay process: the last one (taskset from util-linux).
  const cpu = availableParallelism() - 1;
  const child = spawnSync(
    'taskset',
    ['-c', String(cpu), process.execPath, fileURLToPath(import.meta.url), '--replay-child', input, alerts],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const pinned = child.status === 0;
  const best = pinned ? (JSON.parse(child.stdout) as ReplayTiming) : await timeReplay(input, alerts);
  report(`replay ${format}/${envelope} (file -> alerts)`, count / best.wall, 'lines/s', {
    lines: count,
    mb: Math.round(bytes / 1e6),
    wallSeconds: Number(best.wall.toFixed(2)),
    cpuSeconds: Number(best.cpu.toFixed(2)),
    linesPerCpuSecond: Math.round(count / best.cpu),
    oneCore: pinned ? `pinned to cpu ${cpu}` : 'not pinned (no taskset): GC threads may use a second core',
  });
  rmSync(dir, { recursive: true, force: true });
}

interface ReplayTiming {
  wall: number;
  cpu: number;
}

/** Best of 3 replays of `input`: wall seconds from start to the alerts file closed, and CPU seconds. */
async function timeReplay(input: string, alerts: string): Promise<ReplayTiming> {
  const stderrWrite = process.stderr.write.bind(process.stderr);
  let best: ReplayTiming = { wall: Number.POSITIVE_INFINITY, cpu: 0 };
  for (let round = 0; round < 3; round++) {
    process.stderr.write = (() => true) as typeof process.stderr.write;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    try {
      await replayCommand.run(['--alerts', alerts, input]);
    } finally {
      process.stderr.write = stderrWrite;
    }
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(cpu0);
    if (wall < best.wall) best = { wall, cpu: (c.user + c.system) / 1e6 };
  }
  return best;
}

function heapAfterGc(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  // Typed-array backing stores live outside the JS heap: count them too.
  return m.heapUsed + m.arrayBuffers;
}

function event(time: number, identity: number, host: number): EgressEvent {
  const ns = `ns-${identity}`;
  const e = newEgressEvent();
  e.time = time;
  e.protocol = 'tls';
  e.path = 'sidecar-to-gateway';
  e.bytesUp = 1000 + host;
  e.bytesDown = 5000;
  e.durationMs = 10;
  e.origin = 'bench';
  const s = e.source;
  s.namespace = ns;
  s.workload = ns;
  s.pod = `${ns}-pod`;
  s.ip = '10.1.0.1';
  s.attribution = 'metadata';
  s.key = `${ns}/${ns}`;
  const d = e.destination;
  d.host = `h${host}.api.example${host % 5}.com`;
  d.registeredDomain = `example${host % 5}.com`;
  d.port = 443;
  d.external = true;
  return e;
}

function memoryPerKey(): void {
  if (gc === undefined) {
    process.stdout.write('memory per key: run node with --expose-gc to measure\n');
    return;
  }
  const identities = 1000;
  const hostsPerIdentity = 100;
  const keys = identities * hostsPerIdentity;
  // Baselines alone: the per-key time-of-day structure.
  const before = heapAfterGc();
  const arr: Baseline[] = [];
  const pool = new BaselinePool();
  for (let i = 0; i < keys; i++) arr.push(pool.alloc());
  const baselineOnly = (heapAfterGc() - before) / keys;
  report('memory: Baseline (hour-of-day buckets)', baselineOnly, 'bytes/key', {
    bufferBytes: BASELINE_BYTES,
  });
  arr.length = 0;

  // The whole detection state: host and domain tables, first-seen sets, beacon tracks.
  const cfg = DetectionConfigSchema.parse({ maxKeys: 1_000_000, learningPeriod: '1h' });
  const start = heapAfterGc();
  const engine = buildDetection(cfg, new PolicySet([]), () => {});
  const t0 = Date.parse('2025-03-03T00:00:00Z');
  // Four passes six hours apart (each ~17 minutes of event time, 100 events/s), so minutes and hours
  // roll into the hour-of-day history.
  for (let pass = 0; pass < 4; pass++) {
    for (let i = 0; i < identities; i++) {
      for (let h = 0; h < hostsPerIdentity; h++)
        engine.observe(event(t0 + pass * 6 * 3_600_000 + i * 1000 + h * 10, i, i * hostsPerIdentity + h));
    }
    engine.advance();
  }
  engine.flush();
  const total = (heapAfterGc() - start) / keys;
  report('memory: detection state per (identity, host)', total, 'bytes/key', {
    hostKeys: engine.state.hosts.size,
    domainKeys: engine.state.domains.size,
    includes: 'host + registrable-domain baselines, first-seen sets, beacon tracks',
  });
}

/**
 * Detection alone (engine + detectors + alert stage), on events normalised beforehand from the same
 * simulated traffic: the part of a replay that is not reading, decoding and normalising.
 */
function detectionOnly(): void {
  const traffic = generateTraffic({
    durationMs: 3 * 86_400_000,
    rate: 60,
    seed: 1,
    format: 'json',
    envelope: 'none',
    attacks: ['forbidden', 'bypass', 'upload-spike', 'beaconing', 'subdomain-spray', 'gateway-silence'],
  });
  const events: EgressEvent[] = [];
  const detection = DetectionConfigSchema.parse({});
  const ingest = new Ingest({ decoder: { format: 'auto' }, mesh: MeshConfigSchema.parse({}) });
  const collect = (lines: string[]) =>
    ingest.read({ lines, source: 'bench', position: (i) => String(i) }, (e) =>
      events.push(cloneEgressEvent(e)),
    );
  let batch: string[] = [];
  for (const line of traffic) {
    batch.push(line);
    if (batch.length === 4096) {
      collect(batch);
      batch = [];
    }
  }
  collect(batch);
  let best = { wall: Number.POSITIVE_INFINITY, cpu: 0, alerts: 0 };
  for (let round = 0; round < 3; round++) {
    const out: Alert[] = [];
    const alerts = new AlertStage(alertStageOptions(detection));
    const engine = buildDetection(detection, new PolicySet([]), (f) => alerts.accept(f, out));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < events.length; i++) {
      engine.observe(events[i] as EgressEvent);
      if ((i & 4095) === 4095) {
        engine.advance();
        alerts.advance(engine.watermark, out);
      }
    }
    engine.flush();
    alerts.flush(out);
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(cpu0);
    if (wall < best.wall) best = { wall, cpu: (c.user + c.system) / 1e6, alerts: out.length };
  }
  report('detection only (engine + detectors + alerts)', events.length / best.wall, 'events/s', {
    events: events.length,
    wallSeconds: Number(best.wall.toFixed(2)),
    eventsPerCpuSecond: Math.round(events.length / best.cpu),
    alertRecords: best.alerts,
  });
}

const childAt = process.argv.indexOf('--replay-child');
if (childAt >= 0) {
  // The pinned child: time the replay, print the figures for the parent.
  const timing = await timeReplay(process.argv[childAt + 1] as string, process.argv[childAt + 2] as string);
  process.stdout.write(`${JSON.stringify(timing)}\n`);
  process.exit(0);
}
// `--detect-only`: detection alone (for profiling the detection part).
const replayOnly = process.argv.includes('--replay-only');
// `--memory-only`: the memory figures alone.
const memoryOnly = process.argv.includes('--memory-only');
if (!process.argv.includes('--detect-only') && !replayOnly) memoryPerKey();
if (!replayOnly && !memoryOnly) detectionOnly();
if (!process.argv.includes('--detect-only') && !memoryOnly) {
  for (const [format, envelope] of [
    ['text', 'none'],
    ['text', 'fluent-bit'],
    ['json', 'fluent-bit'],
  ] as const) {
    await replayThroughput(format, envelope);
  }
}
