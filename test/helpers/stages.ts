/**
 * The pipeline's stages for tests: driven synchronously from memory (`Stages`, shared with the
 * benches), or synthetic ones for run-loop tests.
 */
import type { Alert } from '../../src/alerts/types.js';
import type { DeadLetter } from '../../src/dead-letter.js';
import type { EgressEvent } from '../../src/identity/types.js';
import { emptyCounts } from '../../src/pipeline/ingest.js';
import {
  type DetectionStage,
  type IngestStage,
  type RunSummary,
  runPipeline,
} from '../../src/pipeline/loop.js';
import type { Source } from '../../src/sources/types.js';

export { Stages } from '../../bench/core-replay.js';

/**
 * Stages for run-loop tests: each line becomes the event `toEvent` makes of it, and an alert when
 * `alertFor` gives one (in the batch that read it). Event time is whatever the test says it is.
 */
export function syntheticStages(
  toEvent: (line: string, origin: string) => EgressEvent,
  alertFor: (line: string, origin: string) => Alert | null,
): { ingest: IngestStage; detection: DetectionStage & { watermarkAt: number } } {
  let pending: Alert[] = [];
  const ingest: IngestStage = {
    read(batch, onEvent) {
      const stats = {
        ...emptyCounts(),
        deadLetters: [],
        maxTime: Number.NEGATIVE_INFINITY,
        minTime: Number.POSITIVE_INFINITY,
      };
      batch.lines.forEach((line, j) => {
        const origin = batch.position(j);
        const e = toEvent(line, origin);
        stats.lines++;
        stats.accessLines++;
        stats.events++;
        if (e.time > stats.maxTime) stats.maxTime = e.time;
        onEvent(e, line);
        const a = alertFor(line, origin);
        if (a !== null) pending.push(a);
      });
      return stats;
    },
  };
  const detection = {
    counts: { events: 0, alerts: 0, late: 0, deadLettered: 0 },
    watermarkAt: Number.POSITIVE_INFINITY,
    observe(): void {
      detection.counts.events++;
    },
    mark(): void {},
    knows: () => false,
    advance(): void {},
    finish(): void {},
    takeAlerts(): Alert[] {
      const out = pending;
      pending = [];
      return out;
    },
    takeDeadLetters: (): DeadLetter[] => [],
    watermark: () => detection.watermarkAt,
  };
  return { ingest, detection };
}

/**
 * Runs `source` through the run loop with held acks, its alerts and dead letters collected in
 * memory (a sink and a dead-letter store that keep what they get).
 */
export async function runToMemory(
  source: Source,
  stages: { ingest: IngestStage; detection: DetectionStage },
): Promise<{ alerts: Alert[]; dead: DeadLetter[]; summary: RunSummary }> {
  const alerts: Alert[] = [];
  const dead: DeadLetter[] = [];
  const never = new AbortController().signal;
  const summary = await runPipeline({
    sources: [source],
    ...stages,
    flows: null,
    sinks: [
      {
        name: 'memory',
        start: async () => {},
        write: async (b) => {
          alerts.push(...b.alerts);
        },
        close: async () => {},
      },
    ],
    deadLetters: async (letters) => {
      dead.push(...letters);
    },
    holdAcks: true,
    retryInitialMs: 1,
    retryMaxMs: 1,
    shutdown: never,
    stop: never,
    log: () => {},
  });
  return { alerts, dead, summary };
}
