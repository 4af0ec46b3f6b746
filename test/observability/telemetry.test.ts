import { describe, expect, it } from 'vitest';
import { PipelineMetrics } from '../../src/observability/metrics.js';
import { Telemetry } from '../../src/observability/telemetry.js';

async function value(metrics: PipelineMetrics, name: string, component: string): Promise<number | undefined> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === `egress_sentinel_${name}`);
  return (m?.values as { labels: Record<string, string>; value: number }[] | undefined)?.find(
    (v) => v.labels.component === component,
  )?.value;
}

describe('per-component telemetry', () => {
  it('counts per component and exports each increase once to Prometheus', async () => {
    const t = new Telemetry();
    t.of('source', 'file:a.log').received += 10;
    t.detected(7, 2, 1);
    t.delivered([{ name: 'stdout' }, { name: 'elasticsearch' }], 3);
    expect(t.toJSON()).toEqual({
      'source:file:a.log': { received: 10, sent: 0, discarded: 0, errors: 0, deadLetters: 0 },
      detection: { received: 7, sent: 2, discarded: 0, errors: 0, deadLetters: 1 },
      'sink:stdout': { received: 3, sent: 0, discarded: 0, errors: 0, deadLetters: 0 },
      'sink:elasticsearch': { received: 3, sent: 0, discarded: 0, errors: 0, deadLetters: 0 },
    });
    const metrics = new PipelineMetrics({ defaultMetrics: false });
    metrics.recordComponents(t);
    metrics.recordComponents(t);
    expect(await value(metrics, 'component_received_total', 'detection')).toBe(7);
    expect(await value(metrics, 'component_dead_letters_total', 'detection')).toBe(1);
    t.detected(5, 0, 0);
    metrics.recordComponents(t);
    expect(await value(metrics, 'component_received_total', 'detection')).toBe(12);
    expect(await value(metrics, 'component_received_total', 'sink:elasticsearch')).toBe(3);
  });
});
