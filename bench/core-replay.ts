/**
 * What `bench:quality` and the scenario tests (test/scenario) share: the seed's egress policy and a
 * replay of simulated lines through the pipeline core (decode, normalise, detect, alerts) with
 * default settings, batched as `egress-sentinel replay` batches them.
 */
import type { z } from 'zod';
import type { Alert } from '../src/alerts/types.js';
import { DetectionConfigSchema } from '../src/detect/config.js';
import type { Finding } from '../src/detect/types.js';
import { MeshConfigSchema } from '../src/identity/config.js';
import { BatchProcessor } from '../src/pipeline/processor.js';
import { parsePolicyText } from '../src/policy/load.js';
import { PolicySet } from '../src/policy/policy-set.js';

/** The seed's policy: app A may reach IBM's hosts, app B its database. */
export const SEED_POLICY = `
kind: EgressPolicy
policies:
  - name: app-a-egress
    source: { namespace: app-a }
    allow: ["*.ibm.com"]
  - name: app-b-db
    source: { namespace: app-b }
    allow: ["mongo1.composedb.com"]
`;

/** Lines per batch: event time advances once per batch, as in `replay` (src/cli/replay.ts). */
const BATCH = 4096;

export interface CoreOptions {
  /** Default: the seed's policy. */
  policies?: PolicySet;
  /** Mesh settings; default: none. */
  mesh?: z.input<typeof MeshConfigSchema>;
  onFinding?: (finding: Finding) => void;
}

/** The pipeline core with default detection settings. */
export function coreProcessor(options: CoreOptions = {}): BatchProcessor {
  return new BatchProcessor({
    ...(options.onFinding === undefined ? {} : { onFinding: options.onFinding }),
    detection: DetectionConfigSchema.parse({}),
    decoder: { format: 'auto' },
    mesh: MeshConfigSchema.parse(options.mesh ?? {}),
    policies: options.policies ?? policiesFromText(SEED_POLICY),
  });
}

export function policiesFromText(text: string): PolicySet {
  return new PolicySet(parsePolicyText(text, 'policy.yaml'));
}

/**
 * Feeds `lines` to `processor` in batches (lines numbered from 1 under `source`), then ends the
 * input; returns every alert record in the order it was raised.
 */
export function replayThroughCore(
  processor: BatchProcessor,
  lines: Iterable<string>,
  source: string,
): Alert[] {
  const alerts: Alert[] = [];
  let batch: string[] = [];
  let first = 1;
  const flush = () => {
    const base = first;
    processor.processLines(batch, source, (i) => String(base + i));
    alerts.push(...processor.takeAlerts());
    first += batch.length;
    batch = [];
  };
  for (const line of lines) {
    batch.push(line);
    if (batch.length === BATCH) flush();
  }
  flush();
  processor.finish();
  alerts.push(...processor.takeAlerts());
  return alerts;
}
