/**
 * Findings to alerts: exceptions first, then repeat suppression. The first finding of a condition
 * (rule + dedup key) raises an alert whose id is derived from the rule, the dedup key and the
 * realert bucket (per rule) of its first event time. Repeats within the rule's realert window are
 * counted on that standing alert, which is re-emitted with the same id and the repeats so far when a
 * repeat arrives `repeatUpdate` (event time) after its last emission, and with the final count when
 * its window closes (or at flush); sinks keyed by id simply overwrite. Updates follow the findings'
 * event times only, so a replay gives the same records whatever the batching. A `resolved` finding
 * re-emits the standing alert with status `resolved` and the same id.
 */
import type { DetectionConfig, DetectionException } from '../detect/config.js';
import type { Finding } from '../detect/types.js';
import { alertId } from './alert-id.js';
import { ExceptionList } from './exceptions.js';
import { type Alert, RULE_IDS, type RuleId, type Severity } from './types.js';

export const RULE_NAMES: Record<RuleId, string> = {
  'forbidden-destination': 'Forbidden destination',
  'gateway-bypass': 'Egress gateway bypass',
  'blocked-egress': 'Repeated blocked egress',
  'new-destination': 'New destination',
  'volume-spike': 'Egress volume spike',
  beaconing: 'Beaconing',
  'high-cardinality-domain': 'High-cardinality domain',
  'gateway-silence': 'Egress gateway silence',
  'unaccounted-gateway-leg': 'Gateway connection no sidecar sent',
  'name-mismatch': 'Destination name contradicts address',
  'state-eviction': 'Detection state evicted',
};

export interface AlertStageOptions {
  /** Realert window of rules without their own in `realertPerRuleMs`. */
  realertMs: number;
  realertPerRuleMs?: Partial<Record<RuleId, number>>;
  /** Re-emit a standing alert with its repeats so far at most this often (event time); default: never. */
  repeatUpdateMs?: number;
  severity: Partial<Record<RuleId, Severity>>;
  exceptions: readonly DetectionException[];
}

/** The alert stage settings of a pipeline's `detection` config. */
export function alertStageOptions(d: DetectionConfig): AlertStageOptions {
  return {
    realertMs: d.realert,
    realertPerRuleMs: d.realertPerRule,
    repeatUpdateMs: d.repeatUpdate,
    severity: d.severity,
    exceptions: d.exceptions,
  };
}

interface Standing {
  alert: Alert;
  firstTime: number;
  realertMs: number;
  emittedRepeats: number;
  /** Event time of the last record written for it. */
  emittedAt: number;
}

export class AlertStage {
  private readonly standing = new Map<string, Standing>();
  private readonly exceptions: ExceptionList;
  /** Distinct alerts raised per rule (not counting re-emissions). */
  readonly raised: Record<RuleId, number>;
  findings = 0;
  repeatsSuppressed = 0;
  exceptionsApplied = 0;

  private readonly updateMs: number;

  constructor(private readonly options: AlertStageOptions) {
    this.updateMs = options.repeatUpdateMs ?? Number.POSITIVE_INFINITY;
    this.exceptions = new ExceptionList(options.exceptions);
    this.raised = Object.fromEntries(RULE_IDS.map((r) => [r, 0])) as Record<RuleId, number>;
  }

  get exceptionCounts() {
    return this.exceptions.counts;
  }

  /** One finding; appends the alerts to write now to `out`. */
  accept(f: Finding, out: Alert[]): void {
    this.findings++;
    if (this.exceptions.match(f) >= 0) {
      this.exceptionsApplied++;
      return;
    }
    const key = `${f.ruleId}\n${f.dedupKey}`;
    const s = this.standing.get(key);
    if (f.status === 'resolved') {
      if (s === undefined) return;
      const a = s.alert;
      a.alert.status = 'resolved';
      a.alert.last_seen = iso(f.time);
      a['@timestamp'] = iso(f.time);
      a.reason = f.reason;
      a.evidence = { dedupKey: f.dedupKey, ...f.evidence };
      out.push(snapshot(a));
      this.standing.delete(key);
      return;
    }
    if (s !== undefined) {
      if (f.time - s.firstTime < s.realertMs) {
        s.alert.alert.repeats++;
        s.alert.alert.last_seen = iso(f.time);
        this.repeatsSuppressed++;
        if (f.time - s.emittedAt >= this.updateMs) {
          s.emittedRepeats = s.alert.alert.repeats;
          s.emittedAt = f.time;
          out.push(snapshot(s.alert));
        }
        return;
      }
      this.close(key, s, out);
    }
    const realertMs = this.realertOf(f.ruleId);
    const alert = this.build(f, realertMs);
    this.raised[f.ruleId]++;
    this.standing.set(key, { alert, firstTime: f.time, realertMs, emittedRepeats: 0, emittedAt: f.time });
    out.push(snapshot(alert));
  }

  /** Event time reached `watermark`: standing alerts whose realert window ended are closed. */
  advance(watermark: number, out: Alert[]): void {
    for (const [key, s] of this.standing) {
      if (watermark - s.firstTime >= s.realertMs) this.close(key, s, out);
    }
  }

  /** End of input: re-emits every standing alert that gathered repeats since it was written. */
  flush(out: Alert[]): void {
    for (const s of this.standing.values()) {
      if (s.alert.alert.repeats !== s.emittedRepeats) {
        s.emittedRepeats = s.alert.alert.repeats;
        out.push(snapshot(s.alert));
      }
    }
  }

  private close(key: string, s: Standing, out: Alert[]): void {
    if (s.alert.alert.repeats !== s.emittedRepeats) out.push(snapshot(s.alert));
    this.standing.delete(key);
  }

  private realertOf(rule: RuleId): number {
    return this.options.realertPerRuleMs?.[rule] ?? this.options.realertMs;
  }

  private build(f: Finding, realertMs: number): Alert {
    const bucket = Math.floor(f.time / Math.max(realertMs, 1));
    const d = f.destination;
    return {
      '@timestamp': iso(f.time),
      alert: {
        id: alertId(f.ruleId, f.dedupKey, bucket),
        status: 'firing',
        repeats: 0,
        first_seen: iso(f.time),
        last_seen: iso(f.time),
      },
      rule: { id: f.ruleId, name: RULE_NAMES[f.ruleId] },
      severity: this.options.severity[f.ruleId] ?? f.severity,
      reason: f.reason,
      source: {
        principal: f.source.principal,
        namespace: f.source.namespace,
        workload: f.source.workload,
        pod: f.source.pod,
        ip: f.source.ip,
      },
      destination: {
        domain: d?.host ?? null,
        registered_domain: d?.registeredDomain ?? null,
        ip: d?.ip ?? null,
        port: d === null || d.port === 0 ? null : d.port,
      },
      network: { path: f.path, protocol: f.protocol },
      evidence: { dedupKey: f.dedupKey, ...f.evidence },
    };
  }
}

function iso(t: number): string {
  return new Date(t).toISOString();
}

function snapshot(a: Alert): Alert {
  return { ...a, alert: { ...a.alert } };
}
