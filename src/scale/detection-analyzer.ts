/** PartitionAnalyzer over the detection engine and the alert stage: one per owned partition. */
import { AlertStage, alertStageOptions } from '../alerts/stage.js';
import type { Alert } from '../alerts/types.js';
import { buildDetection } from '../detect/build.js';
import type { DetectionConfig } from '../detect/config.js';
import type { DetectionEngine } from '../detect/engine.js';
import type { EgressEvent } from '../identity/types.js';
import type { PolicySet } from '../policy/policy-set.js';
import type { PartitionAnalyzer } from './partition-task.js';

export class DetectionAnalyzer implements PartitionAnalyzer {
  readonly engine: DetectionEngine;
  private readonly alerts: AlertStage;
  private pending: Alert[] = [];

  constructor(config: DetectionConfig, policies: PolicySet) {
    this.alerts = new AlertStage(alertStageOptions(config));
    this.engine = buildDetection(config, policies, (f) => this.alerts.accept(f, this.pending));
  }

  observe(event: EgressEvent): void {
    this.engine.observe(event);
  }

  advance(out: Alert[]): void {
    this.engine.advance();
    this.alerts.advance(this.engine.watermark, this.pending);
    for (const a of this.pending) out.push(a);
    this.pending = [];
  }

  watermark(): number {
    return this.engine.watermark;
  }

  stateSize(): number {
    return this.engine.state.hosts.size + this.engine.state.domains.size;
  }

  exportIdentities(ids: Iterable<string>): Map<string, Buffer | null> {
    const out = new Map<string, Buffer | null>();
    const state = this.engine.state;
    for (const id of ids) {
      const bytes = state.exportKeyBytes(id);
      // An identity whose baselines were all evicted exports only the empty header: a tombstone.
      out.set(id, bytes.length <= EMPTY_EXPORT_BYTES ? null : bytes);
    }
    return out;
  }

  importIdentity(id: string, state: Uint8Array): void {
    this.engine.state.importKeyBytes(id, state);
  }

  deleteIdentity(id: string): void {
    this.engine.state.deleteKey(id);
  }

  identityCount(): number {
    return this.engine.state.identityCount();
  }

  exportGlobal(): Record<string, unknown> {
    return { startTime: Number.isNaN(this.engine.state.startTime) ? null : this.engine.state.startTime };
  }

  importGlobal(data: Record<string, unknown>): void {
    // The learning clock is global: keep the earliest any partition knew, so a restored partition
    // does not start learning again (and swallow alerts) on its new owner.
    const t = data.startTime;
    if (
      typeof t === 'number' &&
      (Number.isNaN(this.engine.state.startTime) || t < this.engine.state.startTime)
    )
      this.engine.state.startTime = t;
  }
}

/** Version byte, two zero counts and a zero parts length. */
const EMPTY_EXPORT_BYTES = 13;
