/**
 * Index templates with explicit mappings for the four kinds of documents. Alerts and baseline
 * snapshots go to date-suffixed indices behind a read alias (`<prefix>-alerts`): the index is picked
 * from a timestamp that never changes for a document (alert.first_seen), so a redelivered or
 * resolved alert overwrites the same document instead of landing in a newer index. Flow summaries
 * and raw events go to data streams (append-only; the template creates them on first write).
 * Unknown fields are kept in _source but not indexed (`dynamic: false`), so a new field in an
 * Alert never makes documents fail.
 */
import type { estypes } from '@elastic/elasticsearch';

type Properties = Record<string, estypes.MappingProperty>;

const keyword: estypes.MappingProperty = { type: 'keyword', ignore_above: 1024 };
const date: estypes.MappingProperty = { type: 'date' };
const ip: estypes.MappingProperty = { type: 'ip', ignore_malformed: true };
const long: estypes.MappingProperty = { type: 'long' };
const integer: estypes.MappingProperty = { type: 'integer' };
const bool: estypes.MappingProperty = { type: 'boolean' };
const double: estypes.MappingProperty = { type: 'double' };

function obj(properties: Properties): estypes.MappingProperty {
  return { type: 'object', properties };
}

const sourceIdentity = obj({
  key: keyword,
  principal: keyword,
  namespace: keyword,
  workload: keyword,
  pod: keyword,
  ip,
  attribution: keyword,
});

export const ALERT_PROPERTIES: Properties = {
  '@timestamp': date,
  alert: obj({ id: keyword, status: keyword, repeats: integer, first_seen: date, last_seen: date }),
  rule: obj({ id: keyword, name: keyword }),
  severity: keyword,
  reason: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 1024 } } },
  source: sourceIdentity,
  destination: obj({ domain: keyword, registered_domain: keyword, ip, port: integer }),
  network: obj({ path: keyword, protocol: keyword }),
  // Free-form numbers behind the alert: kept in _source, not indexed (their types vary by rule).
  evidence: { type: 'object', enabled: false },
};

export const FLOW_PROPERTIES: Properties = {
  '@timestamp': date,
  id: keyword,
  late: bool,
  source: sourceIdentity,
  destination: obj({ domain: keyword, registered_domain: keyword, port: integer, external: bool }),
  network: obj({ path: keyword, reporter: keyword }),
  requests: long,
  connections: long,
  bytes_up: long,
  bytes_down: long,
  errors: long,
};

export const BASELINE_PROPERTIES: Properties = {
  '@timestamp': date,
  id: keyword,
  source: obj({ key: keyword }),
  destination: obj({ domain: keyword, registered_domain: keyword }),
  first_seen: date,
  last_seen: date,
  active_minutes: long,
  requests: long,
  bytes_up: long,
  bytes_down: long,
  rate_mean: double,
  rate_stddev: double,
};

/** The normalised event (EgressEvent) as stored: ECS-like names, one document per access-log line. */
export const EVENT_PROPERTIES: Properties = {
  '@timestamp': date,
  event: obj({ duration_ms: long, origin: keyword }),
  network: obj({ path: keyword, reporter: keyword, protocol: keyword }),
  upstream: obj({ cluster: keyword }),
  source: sourceIdentity,
  destination: obj({ domain: keyword, registered_domain: keyword, ip, port: integer, external: bool }),
  http: obj({ method: keyword, path: keyword, response_code: integer, request_id: keyword }),
  response_flags: keyword,
  bytes_up: long,
  bytes_down: long,
};

export type DocKind = 'alerts' | 'flows' | 'baselines' | 'events';

export interface IndexNames {
  /** Read alias (alerts, baselines) or data stream name (flows, events). */
  readonly alerts: string;
  readonly flows: string;
  readonly baselines: string;
  readonly events: string;
}

export function indexNames(prefix: string): IndexNames {
  return {
    alerts: `${prefix}-alerts`,
    flows: `${prefix}-flows`,
    baselines: `${prefix}-baselines`,
    events: `${prefix}-events`,
  };
}

/** The concrete index for an alias-backed kind: monthly for alerts, daily for baseline snapshots. */
export function datedIndex(alias: string, time: string | number, granularity: 'month' | 'day'): string {
  const iso = new Date(time).toISOString();
  const suffix =
    granularity === 'month'
      ? `${iso.slice(0, 4)}.${iso.slice(5, 7)}`
      : `${iso.slice(0, 4)}.${iso.slice(5, 7)}.${iso.slice(8, 10)}`;
  return `${alias}-${suffix}`;
}

/** Parses the date suffix back (start of the period, epoch ms), or null for other names. */
export function datedIndexStart(alias: string, index: string): number | null {
  const m = /^-(\d{4})\.(\d{2})(?:\.(\d{2}))?$/.exec(index.slice(alias.length));
  if (!index.startsWith(alias) || m === null) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, m[3] === undefined ? 1 : Number(m[3]));
}

export interface TemplateOptions {
  readonly prefix: string;
  readonly shards: number;
  readonly replicas: number;
  /** ILM policy name when the cluster has ILM; null otherwise (retention by the setup command). */
  readonly ilmPolicy: string | null;
}

export function indexTemplates(o: TemplateOptions): estypes.IndicesPutIndexTemplateRequest[] {
  const n = indexNames(o.prefix);
  const settings = (rollover: string | null): estypes.IndicesIndexSettings => {
    const s: estypes.IndicesIndexSettings = { number_of_shards: o.shards, number_of_replicas: o.replicas };
    if (o.ilmPolicy !== null) {
      s['index.lifecycle.name'] = o.ilmPolicy;
      if (rollover !== null) s['index.lifecycle.rollover_alias'] = rollover;
    }
    return s;
  };
  const mappings = (properties: Properties): estypes.MappingTypeMapping => ({ dynamic: false, properties });
  const meta = { managed_by: 'egress-sentinel' };
  return [
    {
      name: n.alerts,
      index_patterns: [`${n.alerts}-*`],
      priority: 200,
      _meta: meta,
      template: {
        settings: settings(null),
        mappings: mappings(ALERT_PROPERTIES),
        aliases: { [n.alerts]: {} },
      },
    },
    {
      name: n.baselines,
      index_patterns: [`${n.baselines}-*`],
      priority: 200,
      _meta: meta,
      template: {
        settings: settings(null),
        mappings: mappings(BASELINE_PROPERTIES),
        aliases: { [n.baselines]: {} },
      },
    },
    {
      name: n.flows,
      index_patterns: [n.flows],
      data_stream: {},
      priority: 200,
      _meta: meta,
      template: { settings: settings(null), mappings: mappings(FLOW_PROPERTIES) },
    },
    {
      name: n.events,
      index_patterns: [n.events],
      data_stream: {},
      priority: 200,
      _meta: meta,
      template: { settings: settings(null), mappings: mappings(EVENT_PROPERTIES) },
    },
  ];
}
