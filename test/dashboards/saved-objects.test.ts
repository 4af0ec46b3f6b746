import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DATA_VIEWS, PANELS, panelFields } from '../../src/dashboards/panels.js';
import { savedObjects, toNdjson } from '../../src/dashboards/saved-objects.js';
import {
  ALERT_PROPERTIES,
  EVENT_PROPERTIES,
  FLOW_PROPERTIES,
} from '../../src/sinks/elasticsearch/mappings.js';

type Props = Record<string, { properties?: Props; type?: string }>;
const MAPPINGS: Record<string, Props> = {
  alerts: ALERT_PROPERTIES as Props,
  flows: FLOW_PROPERTIES as Props,
  events: EVENT_PROPERTIES as Props,
};

/** A dotted field path exists in the mapping (object fields count: `evidence` is a disabled object). */
function mapped(props: Props, path: string): boolean {
  const [head, ...rest] = path.split('.');
  const p = props[head as string];
  if (p === undefined) return false;
  return rest.length === 0 ? true : p.properties !== undefined && mapped(p.properties, rest.join('.'));
}

const objects = savedObjects();
type Obj = Record<string, unknown>;

describe('Kibana saved objects', () => {
  it('are committed as dashboards/egress-overview.ndjson, exactly as generated', () => {
    expect(readFileSync('dashboards/egress-overview.ndjson', 'utf8')).toBe(toNdjson(objects));
  });

  it('have the fields the import API needs, unique ids, and references that resolve', () => {
    const ids = new Set(objects.map((o) => `${o.type}:${o.id}`));
    expect(ids.size).toBe(objects.length);
    for (const o of objects) {
      expect(Object.keys(o).sort()).toEqual([
        'attributes',
        'coreMigrationVersion',
        'id',
        'references',
        'type',
        'typeMigrationVersion',
      ]);
      expect(o.attributes.title).toEqual(expect.any(String));
      for (const r of o.references)
        expect(ids.has(`${r.type}:${r.id}`), `${o.id} -> ${r.type}:${r.id}`).toBe(true);
    }
    expect(objects.filter((o) => o.type === 'index-pattern').map((o) => o.attributes.title)).toEqual([
      'egress-sentinel-alerts*',
      'egress-sentinel-flows*',
      'egress-sentinel-events*',
    ]);
  });

  it('lays out every panel in the dashboard, each Lens panel with a formBased layer on a known data view', () => {
    const dashboard = objects.find((o) => o.type === 'dashboard') as (typeof objects)[number];
    const panels = JSON.parse(String(dashboard.attributes.panelsJSON)) as Obj[];
    expect(panels.map((p) => p.panelIndex)).toEqual(PANELS.map((p) => p.id));
    const names = new Set(dashboard.references.map((r) => r.name));
    for (const p of panels) {
      const grid = p.gridData as { x: number; w: number };
      expect(grid.x + grid.w).toBeLessThanOrEqual(48);
      if (p.type === 'search') {
        expect(names.has(String(p.panelRefName))).toBe(true);
        continue;
      }
      const attributes = (p.embeddableConfig as Obj).attributes as Obj;
      const state = attributes.state as Obj;
      const layers = ((state.datasourceStates as Obj).formBased as Obj).layers as Record<
        string,
        { columns: Record<string, Obj>; columnOrder: string[] }
      >;
      for (const [layerId, layer] of Object.entries(layers)) {
        expect(layer.columnOrder.sort()).toEqual(Object.keys(layer.columns).sort());
        const ref = (attributes.references as { id: string; name: string }[]).find(
          (r) => r.name === `indexpattern-datasource-layer-${layerId}`,
        );
        expect(Object.values(DATA_VIEWS).map((v) => v.id)).toContain(ref?.id);
        expect(names.has(`${p.panelIndex}:indexpattern-datasource-layer-${layerId}`)).toBe(true);
      }
    }
  });

  it('uses only fields that exist in the Elasticsearch mappings that setup elasticsearch installs', () => {
    const missing = PANELS.flatMap((p) =>
      panelFields(p)
        .filter((f) => !mapped(MAPPINGS[p.dataView] as Props, f))
        .map((f) => `${p.id}: ${f}`),
    );
    expect(missing).toEqual([]);
    // And the mappings check itself can fail.
    expect(mapped(FLOW_PROPERTIES as Props, 'flow.bytes_up')).toBe(false);
  });

  it('writes each panel filter as KQL in the saved object', () => {
    const bypass = JSON.stringify(objects.find((o) => o.type === 'dashboard')?.attributes.panelsJSON);
    expect(bypass).toContain('network.path: (\\\\\\"passthrough\\\\\\" or \\\\\\"direct-external\\\\\\")');
    const search = objects.find((o) => o.id === 'egress-sentinel-new-destinations');
    expect(
      JSON.parse(String((search?.attributes.kibanaSavedObjectMeta as Obj).searchSourceJSON)).query.query,
    ).toBe('rule.id: ("new-destination")');
  });
});
