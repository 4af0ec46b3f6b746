/**
 * What a report shows, built from alerts (JSON lines, `src/alerts/types.ts`) and optionally events
 * or flows (JSON lines): the time range, the egress map's edges (source → destination with counts,
 * alerted or not) and the alerts per rule. Lines that are not JSON objects are counted and skipped,
 * with the first few named by line number.
 */
import { readFileSync } from 'node:fs';
import type { Alert, Severity } from '../alerts/types.js';
import { SentinelError } from '../errors.js';

export interface Edge {
  source: string;
  destination: string;
  connections: number;
  bytesUp: number;
  /** Registrable domain of the destination, when known (the map rolls up many hosts under one). */
  registeredDomain: string | null;
  /** Highest severity of an alert on this pair, or null. */
  alerted: Severity | null;
  rules: Set<string>;
}

export interface ReportModel {
  title: string;
  from: number;
  to: number;
  /** One per alert id: its latest record (the current state: repeats counted, resolved or not). */
  alerts: Alert[];
  /** Alert records read: a standing alert is written again as its count grows and when it resolves. */
  records: number;
  /** Records per alert id. */
  recordsPerId: Map<string, number>;
  edges: Edge[];
  skipped: { count: number; examples: string[] };
}

const SEVERITY_RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3, critical: 4 };

export function worse(a: Severity | null, b: Severity): Severity {
  return a === null || SEVERITY_RANK[b] > SEVERITY_RANK[a] ? b : a;
}

export function sourceLabel(s: {
  namespace?: string | null;
  workload?: string | null;
  principal?: string | null;
  ip?: string | null;
  key?: string | null;
}): string {
  if (s.key) return s.key;
  if (s.namespace && s.workload) return `${s.namespace}/${s.workload}`;
  return s.principal ?? (s.ip ? `unknown/${s.ip}` : 'unknown');
}

export function destinationLabel(
  d: {
    domain?: string | null;
    host?: string | null;
    ip?: string | null;
    port?: number | null;
    registered_domain?: string | null;
  } | null,
): string {
  if (d === null) return '(none)';
  // A finding about a whole registrable domain (volume spike spread over subdomains) names no host.
  if (!(d.domain ?? d.host) && d.registered_domain) return `*.${d.registered_domain}`;
  const name = d.domain ?? d.host ?? d.ip ?? 'unknown';
  return d.port && !(d.domain ?? d.host) ? `${name}:${d.port}` : name;
}

export function readJsonLines(file: string, skipped: ReportModel['skipped']): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SentinelError(
      'ESN_INPUT',
      `Cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { where: file },
    );
  }
  const out: Record<string, unknown>[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const value: unknown = JSON.parse(line);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        out.push(value as Record<string, unknown>);
        return;
      }
    } catch {
      // counted below
    }
    skipped.count++;
    if (skipped.examples.length < 5) skipped.examples.push(`${file}:${i + 1}`);
  });
  return out;
}

function isAlert(v: Record<string, unknown>): v is Record<string, unknown> & Alert {
  const rule = v.rule as { id?: unknown } | undefined;
  return (
    typeof v['@timestamp'] === 'string' &&
    typeof rule?.id === 'string' &&
    typeof v.source === 'object' &&
    v.source !== null
  );
}

type Flat = Record<string, unknown>;
const num = (v: unknown) =>
  typeof v === 'number' && Number.isFinite(v)
    ? v
    : typeof v === 'string' && v !== '' && !Number.isNaN(Number(v))
      ? Number(v)
      : 0;
const obj = (v: unknown): Flat => (v !== null && typeof v === 'object' ? (v as Flat) : {});

/** An event (EgressEvent), a flow summary (`connections`, `bytes_up`) or an older `flow.*` document. */
interface EventPair {
  source: string;
  destination: string;
  registeredDomain: string | null;
  connections: number;
  bytesUp: number;
  time: number;
}

function eventEdge(e: Flat): EventPair | null {
  const source = obj(e.source);
  const dest = obj(e.destination);
  const flow = obj(e.flow);
  const destination = destinationLabel({
    domain: (dest.domain as string | undefined) ?? null,
    host: (dest.host as string | undefined) ?? null,
    ip: (dest.ip as string | undefined) ?? null,
    port: num(dest.port) || null,
  });
  if (Object.keys(source).length === 0 || destination === 'unknown') return null;
  const time = typeof e.time === 'number' ? e.time : Date.parse(String(e['@timestamp'] ?? ''));
  const registered = (dest.registered_domain ?? dest.registeredDomain) as string | null | undefined;
  return {
    source: sourceLabel(source as Parameters<typeof sourceLabel>[0]),
    destination,
    registeredDomain: typeof registered === 'string' ? registered : null,
    connections:
      'flow' in e
        ? num(flow.connections) + num(flow.requests) || 1
        : 'bytes_up' in e
          ? num(e.connections) + num(e.requests) || 1
          : 1,
    bytesUp: 'flow' in e ? num(flow.bytes_up) : 'bytes_up' in e ? num(e.bytes_up) : num(e.bytesUp),
    time: Number.isFinite(time) ? time : Number.NaN,
  };
}

export function buildModel(
  alertsFile: string,
  eventsFile?: string,
  title = 'egress-sentinel report',
): ReportModel {
  const skipped = { count: 0, examples: [] as string[] };
  // The latest record of each id wins: the newest @timestamp, and of equal ones the later in the file.
  const latest = new Map<string, Alert>();
  const recordsPerId = new Map<string, number>();
  let records = 0;
  for (const v of readJsonLines(alertsFile, skipped)) {
    if (!isAlert(v)) {
      skipped.count++;
      if (skipped.examples.length < 5) skipped.examples.push(`${alertsFile}: an object that is not an alert`);
      continue;
    }
    records++;
    const id = typeof v.alert?.id === 'string' ? v.alert.id : `record-${records}`;
    recordsPerId.set(id, (recordsPerId.get(id) ?? 0) + 1);
    const seen = latest.get(id);
    if (seen === undefined || v['@timestamp'] >= seen['@timestamp']) latest.set(id, v);
  }
  const alerts = [...latest.values()].sort(
    (a, b) => firedAt(a).localeCompare(firedAt(b)) || a.rule.id.localeCompare(b.rule.id),
  );
  const edges = new Map<string, Edge>();
  const edge = (source: string, destination: string, registeredDomain: string | null): Edge => {
    const key = `${source}\u0000${destination}`;
    let e = edges.get(key);
    if (e === undefined) {
      e = {
        source,
        destination,
        registeredDomain,
        connections: 0,
        bytesUp: 0,
        alerted: null,
        rules: new Set(),
      };
      edges.set(key, e);
    }
    return e;
  };
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  if (eventsFile !== undefined) {
    for (const v of readJsonLines(eventsFile, skipped)) {
      const pair = eventEdge(v);
      if (pair === null) continue;
      const e = edge(pair.source, pair.destination, pair.registeredDomain);
      e.connections += pair.connections;
      e.bytesUp += pair.bytesUp;
      if (Number.isFinite(pair.time)) {
        from = Math.min(from, pair.time);
        to = Math.max(to, pair.time);
      }
    }
  }
  for (const a of alerts) {
    const e = edge(
      sourceLabel(a.source),
      destinationLabel(a.destination ?? null),
      a.destination?.registered_domain ?? null,
    );
    e.alerted = worse(e.alerted, a.severity);
    e.rules.add(a.rule.id);
    for (const t of [Date.parse(firedAt(a)), Date.parse(a['@timestamp'])]) {
      if (!Number.isFinite(t)) continue;
      from = Math.min(from, t);
      to = Math.max(to, t);
    }
  }
  if (!Number.isFinite(from)) from = to = Date.now();
  return {
    title,
    from,
    to: Math.max(to, from + 1),
    alerts,
    records,
    recordsPerId,
    edges: [...edges.values()],
    skipped,
  };
}

/** When the alert fired: its first finding (the record's @timestamp is when this record was written). */
export function firedAt(a: Alert): string {
  return a.alert?.first_seen ?? a['@timestamp'];
}

/** When it resolved (the resolving record's time), or null while it stands. */
export function resolvedAt(a: Alert): string | null {
  return a.alert?.status === 'resolved' ? a['@timestamp'] : null;
}
