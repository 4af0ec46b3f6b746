/** The Elasticsearch search a panel amounts to (its filter plus its aggregation or document list). */
import type { estypes } from '@elastic/elasticsearch';
import type { Metric, Panel, TermsFilter } from './panels.js';

export function filterQuery(filters: readonly TermsFilter[]): estypes.QueryDslQueryContainer {
  return {
    bool: {
      filter: filters.filter((f) => !f.negate).map((f) => ({ terms: { [f.field]: [...f.values] } })),
      must_not: filters.filter((f) => f.negate).map((f) => ({ terms: { [f.field]: [...f.values] } })),
    },
  };
}

function metricAgg(m: Metric): Record<string, estypes.AggregationsAggregationContainer> {
  return m.op === 'sum' ? { metric: { sum: { field: m.field } } } : {};
}

export function panelSearch(p: Panel, index: string): estypes.SearchRequest {
  const base: estypes.SearchRequest = { index, query: filterQuery(p.filters), track_total_hits: true };
  if (p.kind === 'search')
    return { ...base, size: 10, sort: [{ '@timestamp': 'desc' }], _source: [...p.columns] };
  if (p.kind === 'xy') {
    return {
      ...base,
      size: 0,
      aggs: {
        time: {
          date_histogram: { field: '@timestamp', fixed_interval: '1h', min_doc_count: 1 },
          aggs: {
            breakdown: {
              terms: { field: p.breakdown, size: 10, missing: '(none)' },
              aggs: metricAgg(p.metric),
            },
          },
        },
      },
    };
  }
  // Nested terms, one level per row field, metrics at the leaves.
  let leaf: Record<string, estypes.AggregationsAggregationContainer> = {};
  p.metrics.forEach((m, i) => {
    if (m.op === 'sum') leaf[`metric${i}`] = { sum: { field: m.field } };
  });
  for (let i = p.rows.length - 1; i >= 0; i--) {
    leaf = {
      [`row${i}`]: { terms: { field: p.rows[i] as string, size: p.size, missing: '(none)' }, aggs: leaf },
    };
  }
  return { ...base, size: 0, aggs: leaf };
}
