/**
 * forbidden-destination: a source reaches an external host its allow-list does not permit, per the
 * loaded policies (the pipeline's policy file and Istio AuthorizationPolicy at the egress gateway).
 * The alert names the policy and rule that decided. Sidecar lines carry no peer principal: the
 * normaliser fills the one their workload was learned to present at the gateway; lines the policies
 * still cannot decide (no principal learned yet for a principal-based rule) are counted, never alerted.
 */
import { z } from 'zod';
import type { EgressEvent } from '../../identity/types.js';
import type { PolicySet } from '../../policy/policy-set.js';
import { type DetectorSpec, destName, eventFinding } from '../spec.js';
import type { DetectionState } from '../state/store.js';
import type { Detector, Emit } from '../types.js';

export const ForbiddenDestinationConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    includeBlocked: z
      .boolean()
      .default(false)
      .describe('Also alert on attempts Istio already dropped (BlackHoleCluster).'),
  })
  .strict();
export type ForbiddenDestinationConfig = z.infer<typeof ForbiddenDestinationConfigSchema>;

/** A caller whose sidecar legs were judged this recently has its gateway legs skipped. */
const SIDECAR_FRESH_MS = 2 * 60_000;
const MAX_CALLERS = 100_000;

export class ForbiddenDestinationDetector implements Detector {
  readonly ruleId = 'forbidden-destination' as const;
  undecided = 0;
  /** Pod IP -> event time of its last sidecar leg judged with a principal. */
  private readonly judgedSidecar = new Map<string, number>();

  constructor(
    private readonly config: ForbiddenDestinationConfig,
    private readonly policies: PolicySet,
    private readonly state: DetectionState,
  ) {}

  observe(event: EgressEvent, emit: Emit): void {
    if (this.policies.empty || !event.destination.external) return;
    const src = event.source;
    if (this.state.redundant) {
      if (src.attribution !== 'principal') return;
      // A gateway leg while sidecar legs are collected: when this caller's sidecar legs were judged
      // just now (with the principal learned for its workload), its own sidecar leg decides and this
      // one would count the connection twice. A caller whose sidecar is silent (its logs not
      // collected, or turned off) is judged here, by the principal the gateway saw.
      const judged = src.ip === null ? undefined : this.judgedSidecar.get(src.ip);
      if (judged !== undefined && event.time - judged <= SIDECAR_FRESH_MS) return;
    }
    const p = event.path;
    if (p === 'internal' || p === 'inbound' || (p === 'blackhole' && !this.config.includeBlocked)) return;
    const d = this.policies.decideEvent(event);
    if (d.verdict === 'unknown') {
      this.undecided++;
      return;
    }
    if (event.reporter === 'sidecar' && src.principal !== null && src.ip !== null) {
      if (this.judgedSidecar.size >= MAX_CALLERS && !this.judgedSidecar.has(src.ip))
        this.judgedSidecar.clear();
      this.judgedSidecar.set(src.ip, event.time);
    }
    if (d.verdict !== 'deny') return;
    const dest = destName(event);
    const rule = d.ruleIndex === null ? '' : ` rule ${d.ruleIndex}`;
    emit(
      eventFinding(
        event,
        this.ruleId,
        'critical',
        // One standing alert per (identity, registrable domain): a spray of hosts is one alert with repeats.
        `${event.source.key} -> ${event.destination.registeredDomain ?? dest}`,
        `${event.source.key} reached ${dest}, which its policy does not permit: ${d.detail}.`,
        {
          policy: d.policy,
          policyKind: d.kind,
          ruleIndex: d.ruleIndex,
          decision: `${d.policy ?? 'default'}${rule}`,
          method: event.method,
          httpPath: event.httpPath,
        },
      ),
    );
  }

  advance(): void {}

  stateSize(): number {
    return this.judgedSidecar.size;
  }
}

export const forbiddenDestinationSpec: DetectorSpec<ForbiddenDestinationConfig> = {
  ruleId: 'forbidden-destination',
  summary:
    'A source reaches an external host its allow-list (pipeline policy or Istio AuthorizationPolicy) does not permit.',
  config: ForbiddenDestinationConfigSchema,
  create: (config, ctx) => new ForbiddenDestinationDetector(config, ctx.policies, ctx.state),
};
