/**
 * Kibana saved objects (NDJSON for the import API) for the panels in panels.ts: data views, Lens
 * panels embedded by value in the dashboard (formBased datasource, Kibana 8.8+ and 9), and saved
 * searches for the tables of documents. Migration versions are the 8.8 ones, so Kibana 8.8+ and 9
 * migrate them forward on import.
 */
import {
  DASHBOARD,
  DATA_VIEWS,
  type DataViewName,
  kql,
  type Metric,
  PANELS,
  type Panel,
  type SearchPanel,
  type TablePanel,
  type XyPanel,
} from './panels.js';

export type SavedObject = {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  references: { type: string; id: string; name: string }[];
  coreMigrationVersion: string;
  typeMigrationVersion: string;
  managed?: boolean;
};

const CORE = '8.8.0';
const query = (filters: Panel['filters']) => ({ query: kql(filters), language: 'kuery' });

function dataView(name: DataViewName, prefix: string): SavedObject {
  const v = DATA_VIEWS[name];
  return {
    type: 'index-pattern',
    id: v.id,
    attributes: { title: v.title(prefix), name: v.name, timeFieldName: '@timestamp' },
    references: [],
    coreMigrationVersion: CORE,
    typeMigrationVersion: '8.0.0',
  };
}

type Column = Record<string, unknown>;

function metricColumn(m: Metric): Column {
  return m.op === 'count'
    ? {
        label: m.label,
        customLabel: true,
        dataType: 'number',
        operationType: 'count',
        sourceField: '___records___',
        isBucketed: false,
        scale: 'ratio',
      }
    : {
        label: m.label,
        customLabel: true,
        dataType: 'number',
        operationType: 'sum',
        sourceField: m.field,
        isBucketed: false,
        scale: 'ratio',
      };
}

function termsColumn(field: string, size: number, orderBy: string): Column {
  return {
    label: field,
    dataType: 'string',
    operationType: 'terms',
    sourceField: field,
    isBucketed: true,
    scale: 'ordinal',
    params: {
      size,
      orderBy: { type: 'column', columnId: orderBy },
      orderDirection: 'desc',
      otherBucket: true,
      missingBucket: true,
    },
  };
}

function lens(p: XyPanel | TablePanel): Record<string, unknown> {
  const layerId = `${p.id}-layer`;
  let columns: Record<string, Column>;
  let columnOrder: string[];
  let visualizationType: string;
  let visualization: Record<string, unknown>;
  if (p.kind === 'xy') {
    columns = {
      time: {
        label: '@timestamp',
        dataType: 'date',
        operationType: 'date_histogram',
        sourceField: '@timestamp',
        isBucketed: true,
        scale: 'interval',
        params: { interval: 'auto', includeEmptyRows: true },
      },
      breakdown: termsColumn(p.breakdown, 10, 'metric'),
      metric: metricColumn(p.metric),
    };
    columnOrder = ['breakdown', 'time', 'metric'];
    visualizationType = 'lnsXY';
    visualization = {
      legend: { isVisible: true, position: 'right' },
      valueLabels: 'hide',
      preferredSeriesType: p.series,
      layers: [
        {
          layerId,
          layerType: 'data',
          seriesType: p.series,
          xAccessor: 'time',
          splitAccessor: 'breakdown',
          accessors: ['metric'],
        },
      ],
    };
  } else {
    columns = {};
    p.rows.forEach((field, i) => {
      columns[`row${i}`] = termsColumn(field, p.size, 'metric0');
    });
    p.metrics.forEach((m, i) => {
      columns[`metric${i}`] = metricColumn(m);
    });
    columnOrder = Object.keys(columns);
    visualizationType = 'lnsDatatable';
    visualization = { layerId, layerType: 'data', columns: columnOrder.map((columnId) => ({ columnId })) };
  }
  return {
    title: p.title,
    type: 'lens',
    visualizationType,
    references: [
      {
        type: 'index-pattern',
        id: DATA_VIEWS[p.dataView].id,
        name: `indexpattern-datasource-layer-${layerId}`,
      },
    ],
    state: {
      visualization,
      query: query(p.filters),
      filters: [],
      datasourceStates: {
        formBased: { layers: { [layerId]: { columns, columnOrder, incompleteColumns: {} } } },
      },
    },
  };
}

function savedSearch(p: SearchPanel): SavedObject {
  return {
    type: 'search',
    id: `egress-sentinel-${p.id}`,
    attributes: {
      title: p.title,
      columns: [...p.columns],
      sort: [['@timestamp', 'desc']],
      kibanaSavedObjectMeta: {
        searchSourceJSON: JSON.stringify({
          query: query(p.filters),
          filter: [],
          indexRefName: 'kibanaSavedObjectMeta.searchSourceJSON.index',
        }),
      },
    },
    references: [
      {
        type: 'index-pattern',
        id: DATA_VIEWS[p.dataView].id,
        name: 'kibanaSavedObjectMeta.searchSourceJSON.index',
      },
    ],
    coreMigrationVersion: CORE,
    typeMigrationVersion: '8.0.0',
  };
}

export function savedObjects(prefix = 'egress-sentinel'): SavedObject[] {
  const searches = PANELS.filter((p): p is SearchPanel => p.kind === 'search').map(savedSearch);
  const references: SavedObject['references'] = [];
  const panels = PANELS.map((p, i) => {
    const gridData = { ...p.grid, i: p.id };
    if (p.kind === 'search') {
      references.push({ type: 'search', id: `egress-sentinel-${p.id}`, name: `panel_${p.id}` });
      return {
        type: 'search',
        panelIndex: p.id,
        gridData,
        panelRefName: `panel_${p.id}`,
        embeddableConfig: { enhancements: {} },
        title: p.title,
      };
    }
    return {
      type: 'lens',
      panelIndex: p.id,
      gridData,
      embeddableConfig: { attributes: lens(p), enhancements: {} },
      title: p.title,
      version: `${i}`,
    };
  });
  for (const p of PANELS) {
    if (p.kind !== 'search')
      references.push({
        type: 'index-pattern',
        id: DATA_VIEWS[p.dataView].id,
        name: `${p.id}:indexpattern-datasource-layer-${p.id}-layer`,
      });
  }
  const dashboard: SavedObject = {
    type: 'dashboard',
    id: DASHBOARD.id,
    attributes: {
      title: DASHBOARD.title,
      description:
        'Who went where and which way: alerts, top pairs, gateway bypass, new destinations, blocked attempts and the gateway monitoring gap.',
      timeRestore: true,
      timeFrom: 'now-24h',
      timeTo: 'now',
      refreshInterval: { pause: false, value: 60_000 },
      optionsJSON: JSON.stringify({ useMargins: true, syncColors: false, hidePanelTitles: false }),
      panelsJSON: JSON.stringify(panels.map(({ version: _v, ...rest }) => rest)),
      kibanaSavedObjectMeta: {
        searchSourceJSON: JSON.stringify({ query: { query: '', language: 'kuery' }, filter: [] }),
      },
    },
    references,
    coreMigrationVersion: CORE,
    typeMigrationVersion: '8.7.0',
  };
  return [
    dataView('alerts', prefix),
    dataView('flows', prefix),
    dataView('events', prefix),
    ...searches,
    dashboard,
  ];
}

export function toNdjson(objects: readonly SavedObject[]): string {
  return `${objects.map((o) => JSON.stringify(o)).join('\n')}\n`;
}
