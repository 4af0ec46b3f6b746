/**
 * The "Egress overview" dashboard as data: each panel says which data view it reads, its filter,
 * and what it aggregates or lists. `saved-objects.ts` turns these into Kibana saved objects (Lens
 * by value, saved searches) and `es-query.ts` into the Elasticsearch request the panel amounts to,
 * so a test can run every panel against real data. Field names follow the index templates in
 * src/sinks/elasticsearch/mappings.ts (alerts: src/alerts/types.ts).
 */
export type DataViewName = 'alerts' | 'flows' | 'events';

export interface DataViewSpec {
  id: string;
  name: string;
  /** Index pattern, from the index prefix. */
  title: (prefix: string) => string;
}

export const DATA_VIEWS: Record<DataViewName, DataViewSpec> = {
  alerts: { id: 'egress-sentinel-alerts', name: 'egress-sentinel alerts', title: (p) => `${p}-alerts*` },
  flows: { id: 'egress-sentinel-flows', name: 'egress-sentinel flows', title: (p) => `${p}-flows*` },
  events: { id: 'egress-sentinel-events', name: 'egress-sentinel events', title: (p) => `${p}-events*` },
};

export interface TermsFilter {
  field: string;
  values: readonly string[];
  negate?: boolean;
}

export type Metric = { op: 'count'; label: string } | { op: 'sum'; field: string; label: string };

interface PanelBase {
  id: string;
  title: string;
  dataView: DataViewName;
  filters: readonly TermsFilter[];
  /** Position on the 48-column dashboard grid. */
  grid: { x: number; y: number; w: number; h: number };
}

export interface XyPanel extends PanelBase {
  kind: 'xy';
  series: 'bar_stacked' | 'line';
  metric: Metric;
  breakdown: string;
}

export interface TablePanel extends PanelBase {
  kind: 'table';
  rows: readonly string[];
  metrics: readonly Metric[];
  size: number;
}

export interface SearchPanel extends PanelBase {
  kind: 'search';
  columns: readonly string[];
}

export type Panel = XyPanel | TablePanel | SearchPanel;

const EGRESS_PATHS = ['gateway-to-external', 'passthrough', 'direct-external'];

export const DASHBOARD = { id: 'egress-sentinel-overview', title: 'Egress overview' };

export const PANELS: readonly Panel[] = [
  {
    id: 'alerts-by-rule',
    title: 'Alerts over time by rule',
    kind: 'xy',
    dataView: 'alerts',
    filters: [],
    series: 'bar_stacked',
    metric: { op: 'count', label: 'Alerts' },
    breakdown: 'rule.id',
    grid: { x: 0, y: 0, w: 24, h: 12 },
  },
  {
    id: 'alerts-by-severity',
    title: 'Alerts over time by severity',
    kind: 'xy',
    dataView: 'alerts',
    filters: [],
    series: 'bar_stacked',
    metric: { op: 'count', label: 'Alerts' },
    breakdown: 'severity',
    grid: { x: 24, y: 0, w: 24, h: 12 },
  },
  {
    id: 'top-pairs',
    title: 'Top source → destination pairs (connections, bytes up)',
    kind: 'table',
    dataView: 'flows',
    filters: [{ field: 'network.path', values: EGRESS_PATHS }],
    rows: ['source.key', 'destination.domain'],
    metrics: [
      { op: 'sum', field: 'connections', label: 'Connections' },
      { op: 'sum', field: 'bytes_up', label: 'Bytes up' },
    ],
    size: 20,
    grid: { x: 0, y: 12, w: 24, h: 15 },
  },
  {
    id: 'gateway-vs-sidecar',
    title: 'Gateway versus sidecar legs over time (the monitoring gap)',
    kind: 'xy',
    dataView: 'flows',
    filters: [{ field: 'network.path', values: ['sidecar-to-gateway', 'gateway-to-external'] }],
    series: 'line',
    metric: { op: 'sum', field: 'connections', label: 'Connections' },
    breakdown: 'network.reporter',
    grid: { x: 24, y: 12, w: 24, h: 15 },
  },
  {
    id: 'skipped-gateway',
    title: 'Traffic that skipped the egress gateway',
    kind: 'table',
    dataView: 'flows',
    filters: [{ field: 'network.path', values: ['passthrough', 'direct-external'] }],
    rows: ['source.key', 'destination.domain', 'network.path'],
    metrics: [
      { op: 'sum', field: 'connections', label: 'Connections' },
      { op: 'sum', field: 'requests', label: 'HTTP requests' },
      { op: 'sum', field: 'bytes_up', label: 'Bytes up' },
    ],
    size: 20,
    grid: { x: 0, y: 27, w: 24, h: 12 },
  },
  {
    id: 'blocked-attempts',
    title: 'Blocked attempts (BlackHoleCluster) over time',
    kind: 'xy',
    dataView: 'flows',
    filters: [{ field: 'network.path', values: ['blackhole'] }],
    series: 'bar_stacked',
    metric: { op: 'sum', field: 'connections', label: 'Attempts' },
    breakdown: 'source.key',
    grid: { x: 24, y: 27, w: 24, h: 12 },
  },
  {
    id: 'new-destinations',
    title: 'New destinations',
    kind: 'search',
    dataView: 'alerts',
    filters: [{ field: 'rule.id', values: ['new-destination'] }],
    columns: [
      'source.namespace',
      'source.workload',
      'destination.domain',
      'destination.registered_domain',
      'reason',
    ],
    grid: { x: 0, y: 39, w: 48, h: 12 },
  },
  {
    id: 'alert-table',
    title: 'Alerts with reason and evidence',
    kind: 'search',
    dataView: 'alerts',
    filters: [],
    columns: [
      'rule.id',
      'severity',
      'source.namespace',
      'source.workload',
      'destination.domain',
      'destination.port',
      'reason',
      'evidence',
    ],
    grid: { x: 0, y: 51, w: 48, h: 18 },
  },
];

/** Every field a panel reads (filters, breakdowns, rows, metrics, columns, time). */
export function panelFields(p: Panel): string[] {
  const fields = new Set<string>(['@timestamp', ...p.filters.map((f) => f.field)]);
  const metric = (m: Metric) => (m.op === 'sum' ? [m.field] : []);
  const add = (list: readonly string[]) => {
    for (const f of list) fields.add(f);
  };
  if (p.kind === 'xy') add([p.breakdown, ...metric(p.metric)]);
  if (p.kind === 'table') add([...p.rows, ...p.metrics.flatMap(metric)]);
  if (p.kind === 'search') add(p.columns);
  return [...fields];
}

/** The KQL a panel's filter amounts to: `a: ("x" or "y") and not b: ("z")`. */
export function kql(filters: readonly TermsFilter[]): string {
  return filters
    .map(
      (f) => `${f.negate ? 'not ' : ''}${f.field}: (${f.values.map((v) => JSON.stringify(v)).join(' or ')})`,
    )
    .join(' and ');
}
