/**
 * blocked-egress: repeated attempts dropped by BlackHoleCluster (or the HTTP `block_all` route) from
 * one source within a window. One blocked call is a misconfiguration; many in a short time, often to
 * several destinations, is probing a REGISTRY_ONLY mesh.
 */
import { z } from 'zod';
import { duration } from '../../config/duration.js';
import type { EgressEvent } from '../../identity/types.js';
import { type DetectorSpec, destName, eventFinding, type RuleSpec } from '../spec.js';
import { KeyTable } from '../state/key-table.js';
import type { Detector, Emit } from '../types.js';

export const BlockedEgressConfigSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Run this detector.'),
    window: duration('2m', 'Sliding window in which blocked attempts are counted.'),
    threshold: z
      .number()
      .int()
      .positive()
      .default(5)
      .describe('Blocked attempts within the window that raise a finding.'),
  })
  .strict();
export type BlockedEgressConfig = z.infer<typeof BlockedEgressConfigSchema>;

/** The rule it raises (see spec.ts). */
const RULE = {
  id: 'blocked-egress',
  name: 'Repeated blocked egress',
  severity: 'medium',
  realert: '6h',
  firesWhen: 'at least `threshold` BlackHoleCluster drops from one identity within `window`',
} as const satisfies RuleSpec;

interface Track {
  times: number[];
  destinations: string[];
  lastFired: number;
}

export class BlockedEgressDetector implements Detector {
  readonly ruleId = RULE.id;
  readonly table: KeyTable<Track>;

  constructor(
    private readonly config: BlockedEgressConfig,
    maxKeys: number,
  ) {
    this.table = new KeyTable<Track>('blocked-egress', maxKeys);
  }

  observe(event: EgressEvent, emit: Emit): void {
    if (event.path !== 'blackhole') return;
    const t = this.table.touch(event.source.key, event.time, () => ({
      times: [],
      destinations: [],
      lastFired: Number.NEGATIVE_INFINITY,
    }));
    const since = event.time - this.config.window;
    while (t.times.length > 0 && (t.times[0] as number) < since) {
      t.times.shift();
      t.destinations.shift();
    }
    t.times.push(event.time);
    t.destinations.push(`${destName(event)}:${event.destination.port}`);
    if (t.times.length > this.config.threshold * 4) {
      t.times.shift();
      t.destinations.shift();
    }
    if (t.times.length >= this.config.threshold && event.time - t.lastFired >= this.config.window) {
      t.lastFired = event.time;
      const distinct = [...new Set(t.destinations)];
      emit(
        eventFinding(
          event,
          this.ruleId,
          RULE.severity,
          `${event.source.key} blocked`,
          `${event.source.key} made ${t.times.length} attempts in ${Math.round(this.config.window / 1000)}s that the mesh dropped (BlackHoleCluster), to ${distinct.length} destination${distinct.length === 1 ? '' : 's'}.`,
          { attempts: t.times.length, windowMs: this.config.window, destinations: distinct.slice(0, 10) },
        ),
      );
    }
  }

  advance(watermark: number): void {
    // Drop tracks idle for a window: they can no longer reach the threshold.
    for (const [key, entry] of this.table.entries()) {
      const last = entry.value.times[entry.value.times.length - 1];
      if (last === undefined || last < watermark - this.config.window) this.table.delete(key);
      else break;
    }
  }

  stateSize(): number {
    return this.table.size;
  }
}

export const blockedEgressSpec: DetectorSpec<BlockedEgressConfig, typeof RULE.id> = {
  rules: [RULE],
  summary: 'Repeated attempts dropped by BlackHoleCluster from one source within a window.',
  config: BlockedEgressConfigSchema,
  create: (config, ctx) => {
    const d = new BlockedEgressDetector(config, ctx.maxKeys);
    ctx.trackTable(d.table as KeyTable<unknown>);
    return d;
  },
};
