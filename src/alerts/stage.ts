/**
 * Findings to alerts: exceptions first, then repeat suppression. The first finding of a condition
 * (rule + dedup key) raises an alert whose id is derived from the rule, the dedup key and the
 * realert bucket (per rule) of its first event time. Repeats within the rule's realert window are
 * counted on that standing alert, which is re-emitted with the same id and the repeats so far when a
 * repeat arrives `repeatUpdate` (event time) after its last emission, and with the final count when
 * its window closes (or at flush); sinks keyed by id simply overwrite. Updates follow the findings'
 * event times only, so a replay gives the same records whatever the batching. A `resolved` finding
 * re-emits the standing alert with status `resolved` and the same id.
 *
 * Floods (issue #15): one source may raise at most `flood.distinctPerSource` distinct alerts of a
 * rule within that rule's realert window; the conditions beyond it are folded into one flood alert
 * for (rule, source) with a count of distinct destinations and examples, re-emitted like a standing
 * alert. Standing alerts and per-source windows are capped WindowTables (O(1) expiry and eviction);
 * alert text is made inert and bounded (./text.ts).
 */
import type { DetectionConfig, DetectionException } from '../detect/config.js';
import { RULE_IDS, RULE_NAMES, type RuleId, type Severity } from '../detect/rules.js';
import type { Finding } from '../detect/types.js';
import { hostLooks } from '../identity/host-name.js';
import { alertId } from './alert-id.js';
import { DistinctCount } from './distinct-count.js';
import { ExceptionList } from './exceptions.js';
import { MAX_NAME, safeName, safeText, safeValue } from './text.js';
import type { Alert } from './types.js';
import { type WindowEntry, WindowTable } from './window-table.js';

export interface AlertStageOptions {
  /** Realert window of rules without their own in `realertPerRuleMs`. */
  realertMs: number;
  realertPerRuleMs?: Partial<Record<RuleId, number>>;
  /** Re-emit a standing alert with its repeats so far at most this often (event time); default: never. */
  repeatUpdateMs?: number;
  severity: Partial<Record<RuleId, Severity>>;
  exceptions: readonly DetectionException[];
  /** Standing alerts kept (default 50,000); beyond it the one closest to its window's end is closed early. */
  maxStanding?: number;
  /** Distinct alerts per (rule, source) and realert window before the rest are folded (default 20). */
  floodThreshold?: number;
  /** Examples a flood alert lists (default 10). */
  floodExamples?: number;
}

/** The alert stage settings of a pipeline's `detection` config. */
export function alertStageOptions(d: DetectionConfig): AlertStageOptions {
  return {
    realertMs: d.realert,
    realertPerRuleMs: d.realertPerRule,
    repeatUpdateMs: d.repeatUpdate,
    severity: d.severity,
    exceptions: d.exceptions,
    maxStanding: d.maxStandingAlerts,
    floodThreshold: d.flood.distinctPerSource,
    floodExamples: d.flood.examples,
  };
}

interface Standing extends WindowEntry {
  alert: Alert;
  emittedRepeats: number;
  /** Event time of the last record written for it. */
  emittedAt: number;
  /** Event time of the last finding (formatted into `last_seen` only when a record is written). */
  lastSeen: number;
  /** Set on a flood alert: what it folded. */
  flood: Flood | null;
}

/** A standing alert opened at `time`, emitted once so far. */
function newStanding(
  key: string,
  time: number,
  lengthMs: number,
  alert: Alert,
  flood: Flood | null,
): Standing {
  return { key, start: time, lengthMs, alert, emittedRepeats: 0, emittedAt: time, lastSeen: time, flood };
}

interface Flood {
  readonly threshold: number;
  readonly windowMs: number;
  /** Findings folded (a destination seen twice counts twice). */
  findings: number;
  readonly distinct: DistinctCount;
  readonly examples: string[];
}

/** See AlertStage.floodKeys. */
interface FloodKeys {
  readonly rule: RuleId;
  readonly source: string;
  /** Of the source's window in `sources`. */
  readonly window: string;
  /** Of its flood alert: its dedup key, and its key in `standing`. */
  readonly dedupKey: string;
  readonly alert: string;
}

/** Distinct alerts one source raised for one rule in the current window. */
interface SourceWindow extends WindowEntry {
  opened: number;
}

/** What the stage counts, for metrics (`egress_sentinel_standing_alerts` etc.). */
export interface AlertStageCounters {
  /** Standing alerts closed early because the table was full. */
  standingEvicted: number;
  /** Findings folded into a flood alert instead of raising their own. */
  folded: number;
  /** Flood alerts raised. */
  floods: number;
}

export class AlertStage {
  private readonly standing: WindowTable<Standing>;
  private readonly sources: WindowTable<SourceWindow>;
  private readonly exceptions: ExceptionList;
  /** Distinct alerts raised per rule (not counting re-emissions). */
  readonly raised: Record<RuleId, number>;
  findings = 0;
  repeatsSuppressed = 0;
  exceptionsApplied = 0;
  readonly counters: AlertStageCounters = { standingEvicted: 0, folded: 0, floods: 0 };

  private readonly updateMs: number;
  private readonly floodThreshold: number;
  private readonly floodExamples: number;
  private lastFloodKeys: FloodKeys | null = null;

  constructor(private readonly options: AlertStageOptions) {
    this.updateMs = options.repeatUpdateMs ?? Number.POSITIVE_INFINITY;
    this.exceptions = new ExceptionList(options.exceptions);
    this.raised = Object.fromEntries(RULE_IDS.map((r) => [r, 0])) as Record<RuleId, number>;
    const max = options.maxStanding ?? 50_000;
    this.standing = new WindowTable<Standing>(max);
    this.sources = new WindowTable<SourceWindow>(max);
    this.floodThreshold = options.floodThreshold ?? 20;
    this.floodExamples = options.floodExamples ?? 10;
  }

  get exceptionCounts() {
    return this.exceptions.counts;
  }

  /** Standing alerts held now. */
  get standingCount(): number {
    return this.standing.size;
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
      a.reason = safeText(f.reason);
      a.evidence = safeValue({ dedupKey: f.dedupKey, ...f.evidence }) as Record<string, unknown>;
      out.push(snapshot(a));
      this.standing.delete(s);
      return;
    }
    if (s !== undefined) {
      if (f.time - s.start < s.lengthMs) {
        this.repeat(s, f, out);
        return;
      }
      this.standing.delete(s);
      this.close(s, out);
    }
    const realertMs = this.realertOf(f.ruleId);
    if (this.overFlood(f, realertMs)) {
      this.fold(f, realertMs, out);
      return;
    }
    const alert = this.build(f, realertMs);
    this.raised[f.ruleId]++;
    this.open(newStanding(key, f.time, realertMs, alert, null), out);
    out.push(snapshot(alert));
  }

  /** Event time reached `watermark`: standing alerts whose realert window ended are closed. */
  advance(watermark: number, out: Alert[]): void {
    for (const s of this.standing.takeExpired(watermark)) this.close(s, out);
    this.sources.takeExpired(watermark);
  }

  /** End of input: re-emits every standing alert that gathered repeats since it was written. */
  flush(out: Alert[]): void {
    for (const s of this.standing.values()) {
      if (s.alert.alert.repeats !== s.emittedRepeats) {
        s.emittedRepeats = s.alert.alert.repeats;
        out.push(this.record(s));
      }
    }
  }

  private repeat(s: Standing, f: Finding, out: Alert[]): void {
    s.alert.alert.repeats++;
    s.lastSeen = f.time;
    this.repeatsSuppressed++;
    if (f.time - s.emittedAt >= this.updateMs) {
      s.emittedRepeats = s.alert.alert.repeats;
      s.emittedAt = f.time;
      out.push(this.record(s));
    }
  }

  private open(s: Standing, out: Alert[]): void {
    const evicted = this.standing.set(s);
    if (evicted !== undefined) {
      this.counters.standingEvicted++;
      this.close(evicted, out);
    }
  }

  /** Counts a new condition against its source's window; true when the source is over the threshold. */
  private overFlood(f: Finding, windowMs: number): boolean {
    const key = this.floodKeys(f).window;
    let w = this.sources.get(key);
    if (w === undefined || f.time - w.start >= w.lengthMs) {
      w = { key, start: f.time, lengthMs: windowMs, opened: 0 };
      this.sources.set(w);
    }
    if (w.opened >= this.floodThreshold) return true;
    w.opened++;
    return false;
  }

  /** Folds a condition into its source's flood alert (raising that alert on the first fold). */
  private fold(f: Finding, realertMs: number, out: Alert[]): void {
    this.counters.folded++;
    const { dedupKey, alert: key } = this.floodKeys(f);
    const s = this.standing.get(key);
    const example = f.destination?.host ?? f.destination?.ip ?? f.dedupKey;
    if (s !== undefined && s.flood !== null && f.time - s.start < s.lengthMs) {
      const flood = s.flood;
      flood.findings++;
      flood.distinct.add(f.dedupKey);
      if (flood.examples.length < this.floodExamples) flood.examples.push(safeText(example, MAX_NAME));
      this.repeat(s, f, out);
      return;
    }
    if (s !== undefined) {
      this.standing.delete(s);
      this.close(s, out);
    }
    const flood: Flood = {
      threshold: this.floodThreshold,
      windowMs: realertMs,
      findings: 1,
      distinct: new DistinctCount(),
      examples: this.floodExamples > 0 ? [safeText(example, MAX_NAME)] : [],
    };
    flood.distinct.add(f.dedupKey);
    const alert = this.build({ ...f, dedupKey, destination: null, evidence: {} }, realertMs);
    this.raised[f.ruleId]++;
    this.counters.floods++;
    const st = newStanding(key, f.time, realertMs, alert, flood);
    this.open(st, out);
    out.push(this.record(st));
  }

  /**
   * The keys of `f`'s (rule, source) window and flood alert. The last ones are reused while the same
   * source goes on: a key built afresh is hashed again on every lookup, and a flood is one source.
   */
  private floodKeys(f: Finding): FloodKeys {
    const k = this.lastFloodKeys;
    if (k !== null && k.rule === f.ruleId && k.source === f.source.key) return k;
    const dedupKey = `${f.source.key} -> * (flood)`;
    const keys: FloodKeys = {
      rule: f.ruleId,
      source: f.source.key,
      window: `${f.ruleId}\n${f.source.key}`,
      dedupKey,
      alert: `${f.ruleId}\n${dedupKey}`,
    };
    this.lastFloodKeys = keys;
    return keys;
  }

  private close(s: Standing, out: Alert[]): void {
    if (s.alert.alert.repeats !== s.emittedRepeats) out.push(this.record(s));
  }

  /** The record to write for `s` now (a flood alert's count and examples as they are now). */
  private record(s: Standing): Alert {
    const a = s.alert;
    a.alert.last_seen = iso(s.lastSeen);
    const flood = s.flood;
    if (flood === null) return snapshot(a);
    const distinct = flood.distinct.estimate();
    const source = a.source.workload ?? a.source.principal ?? a.source.ip ?? 'a source';
    a.reason = safeText(
      `Flood: ${source} raised more than ${flood.threshold} ${a.rule.name} alerts within ${Math.round(flood.windowMs / 60_000)} min; ${distinct} more distinct destinations are counted in this one alert (e.g. ${flood.examples.slice(0, 3).join(', ')}).`,
    );
    a.evidence = {
      dedupKey: (a.evidence as { dedupKey: string }).dedupKey,
      flood: true,
      distinctDestinations: distinct,
      foldedFindings: flood.findings,
      threshold: flood.threshold,
      examples: [...flood.examples],
    };
    return snapshot(a);
  }

  private realertOf(rule: RuleId): number {
    return this.options.realertPerRuleMs?.[rule] ?? this.options.realertMs;
  }

  private build(f: Finding, realertMs: number): Alert {
    const bucket = Math.floor(f.time / Math.max(realertMs, 1));
    const d = f.destination;
    // An internationalised name is shown in punycode, and said how it displays (homoglyphs).
    const looks = d?.host == null ? null : hostLooks(d.host);
    let reason = f.reason;
    let evidence: Record<string, unknown> = { dedupKey: f.dedupKey, ...f.evidence };
    if (looks !== null) {
      const marks = [
        looks.mixedScript ? `mixed scripts ${looks.scripts.join('+')}` : null,
        looks.latinLookalike ? 'letters that look Latin' : null,
      ].filter((m) => m !== null);
      reason += ` [internationalised name ${d?.host}: displays as "${looks.unicode}"${marks.length > 0 ? `; ${marks.join(', ')}` : ''}]`;
      evidence = { ...evidence, hostDisplay: looks };
    }
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
      reason: safeText(reason),
      source: {
        principal: safeName(f.source.principal),
        namespace: safeName(f.source.namespace),
        workload: safeName(f.source.workload),
        pod: safeName(f.source.pod),
        ip: safeName(f.source.ip),
      },
      destination: {
        domain: safeName(d?.host ?? null),
        registered_domain: safeName(d?.registeredDomain ?? null),
        ip: safeName(d?.ip ?? null),
        port: d === null || d.port === 0 ? null : d.port,
      },
      network: { path: f.path, protocol: f.protocol },
      evidence: safeValue(evidence) as Record<string, unknown>,
    };
  }
}

function iso(t: number): string {
  return new Date(t).toISOString();
}

function snapshot(a: Alert): Alert {
  return { ...a, alert: { ...a.alert } };
}
