/**
 * Accepted findings from the config's `exceptions` list: (rule, source, destination pattern,
 * optional expiry, reason). A matching finding is suppressed and counted per exception for the
 * summary. Patterns use Istio's wildcard rules (`*.example.com`, `prefix*`, `*`).
 */
import type { DetectionException } from '../detect/config.js';
import type { Finding } from '../detect/types.js';
import { hostMatch, istioMatch } from '../policy/match.js';

export interface ExceptionCount {
  index: number;
  rule: string;
  reason: string;
  suppressed: number;
}

export class ExceptionList {
  private readonly expires: number[];
  readonly counts: ExceptionCount[];

  constructor(private readonly exceptions: readonly DetectionException[]) {
    this.expires = exceptions.map((e) =>
      e.expires === undefined ? Number.POSITIVE_INFINITY : Date.parse(e.expires),
    );
    this.counts = exceptions.map((e, index) => ({ index, rule: e.rule, reason: e.reason, suppressed: 0 }));
  }

  /** The index of the first exception matching the finding (and counts it), or -1. */
  match(f: Finding): number {
    for (let i = 0; i < this.exceptions.length; i++) {
      const e = this.exceptions[i] as DetectionException;
      if (e.rule !== '*' && e.rule !== f.ruleId) continue;
      if (f.time > (this.expires[i] as number)) continue;
      if (!sourceMatches(e.source, f)) continue;
      if (!destinationMatches(e.destination, f)) continue;
      (this.counts[i] as ExceptionCount).suppressed++;
      return i;
    }
    return -1;
  }
}

function sourceMatches(pattern: string, f: Finding): boolean {
  if (pattern === '*') return true;
  const s = f.source;
  const principal = s.principal?.replace(/^spiffe:\/\//, '') ?? null;
  return [s.key, principal, s.principal, s.namespace, s.workload].some(
    (v) => v !== null && v !== undefined && istioMatch(pattern, v),
  );
}

function destinationMatches(pattern: string, f: Finding): boolean {
  if (pattern === '*') return true;
  const d = f.destination;
  if (d === null) return false;
  // A name only the client gave (identity/types.ts nameUnverified) is not matched: its IP is.
  if (d.nameUnverified === true) return d.ip !== null && hostMatch(pattern, d.ip);
  return [d.host, d.registeredDomain, d.ip].some((v) => v !== null && hostMatch(pattern, v));
}
