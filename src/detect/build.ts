/** Builds the detection engine, its shared state and the enabled detectors from the config. */
import type { PolicySet } from '../policy/policy-set.js';
import type { DetectionConfig } from './config.js';
import { DetectionEngine } from './engine.js';
import { DETECTORS, type DetectorName } from './registry.js';
import type { DetectorContext, DetectorSpec } from './spec.js';
import type { KeyTable } from './state/key-table.js';
import { DetectionState } from './state/store.js';
import type { Detector, Emit } from './types.js';

export function buildDetection(config: DetectionConfig, policies: PolicySet, emit: Emit): DetectionEngine {
  const state = new DetectionState({
    maxKeys: config.maxKeys,
    maxKeysPerIdentity: config.maxKeysPerIdentity,
    tzOffsetMs: config.timezoneOffsetMinutes * 60_000,
  });
  const tables: KeyTable<unknown>[] = [];
  const ctx: DetectorContext = {
    state,
    policies,
    learningPeriodMs: config.learningPeriod,
    maxKeys: config.maxKeys,
    trackTable: (t) => tables.push(t),
  };
  const detectors: Detector[] = [];
  for (const name of Object.keys(DETECTORS) as DetectorName[]) {
    const settings = config.detectors[name];
    if (!settings.enabled) continue;
    const spec = DETECTORS[name] as DetectorSpec<typeof settings>;
    detectors.push(spec.create(settings, ctx));
  }
  const engine = new DetectionEngine(
    {
      latenessMs: config.lateness,
      maxBufferedEvents: config.maxBufferedEvents,
      // The connection join waits for a leg's partner as long as gateway-silence pairs them.
      joinToleranceMs: config.detectors['gateway-silence'].matchTolerance,
    },
    state,
    detectors,
    emit,
  );
  for (const t of tables) engine.trackTable(t);
  return engine;
}
