import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import { DetectionConfigSchema } from '../../src/detect/config.js';
import { newEgressEvent } from '../../src/identity/normalizer.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { partitionDetection } from '../../src/scale/bootstrap.js';
import { DetectionAnalyzer, PARTITION_STREAM_IDLE_BATCHES } from '../../src/scale/detection-analyzer.js';

const T0 = Date.parse('2025-03-03T08:00:00.000Z');
const config = partitionDetection(DetectionConfigSchema.parse({ learningPeriod: '24h' }));

function observe(a: DetectionAnalyzer, stream: number, time: number): void {
  const e = newEgressEvent();
  e.time = time;
  e.path = 'passthrough';
  e.source.key = 'app-a/app-a';
  e.source.namespace = 'app-a';
  e.origin = `kafka:input/${stream}/${time}`;
  a.observe(e);
}

describe('DetectionAnalyzer event time over several input streams', () => {
  it('holds the watermark at the slowest stream that is still delivering, then lets an idle one go', () => {
    const a = new DetectionAnalyzer(config, new PolicySet([]));
    const out: Alert[] = [];
    // Stream 0 drained ten minutes ahead; stream 1 is still at minute one.
    for (let m = 0; m <= 10; m++) observe(a, 0, T0 + m * 60_000);
    observe(a, 1, T0 + 60_000);
    a.advance(out);
    expect(a.watermark()).toBe(T0 + 60_000 - config.lateness);
    // Stream 1's next minutes are not late: they are still ahead of the watermark.
    observe(a, 1, T0 + 2 * 60_000);
    observe(a, 0, T0 + 11 * 60_000);
    a.advance(out);
    expect(a.engine.counters.late).toBe(0);
    expect(a.watermark()).toBe(T0 + 2 * 60_000 - config.lateness);
    // Stream 1 stops delivering: after a few batches it no longer holds the others back.
    for (let b = 0; b <= PARTITION_STREAM_IDLE_BATCHES; b++) {
      observe(a, 0, T0 + (12 + b) * 60_000);
      a.advance(out);
    }
    expect(a.watermark()).toBe(T0 + (12 + PARTITION_STREAM_IDLE_BATCHES) * 60_000 - config.lateness);
  });
});
