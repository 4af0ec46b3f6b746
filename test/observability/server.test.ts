import { afterEach, describe, expect, it } from 'vitest';
import { Health } from '../../src/observability/health.js';
import { PipelineMetrics } from '../../src/observability/metrics.js';
import { type MetricsServer, startMetricsServer } from '../../src/observability/server.js';
import { parsePipelineConfig } from '../../src/pipeline/config.js';

describe('metrics server', () => {
  let server: MetricsServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  async function start(): Promise<{ metrics: PipelineMetrics; health: Health; url: string }> {
    const metrics = new PipelineMetrics();
    const health = new Health();
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: metrics.registry, health });
    return { metrics, health, url: `http://127.0.0.1:${server.port}` };
  }

  it('serves the pipeline counters in Prometheus text format', async () => {
    const { metrics, url } = await start();
    metrics.countBatch('kafka:logs', 10, 7, 1, new Map([['proxy-log', 2]]));
    metrics.countAlerts([
      { rule: { id: 'new-destination' } },
      { rule: { id: 'new-destination' } },
      { rule: { id: 'beaconing' } },
    ]);
    metrics.setLag('logs', 3, '120', '99');
    metrics.stateKeys.set({ partition: '3' }, 42);
    metrics.setInputLag({ topic: 'mesh-logs', partition: 1, messages: 5 });
    metrics.setInputLag(undefined);
    metrics.restoreSeconds.observe(0.25);
    metrics.sinkRetries.inc({ sink: 'elasticsearch' });
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('egress_sentinel_events_received_total{source="kafka:logs"} 7');
    expect(text).toContain('egress_sentinel_lines_received_total{source="kafka:logs"} 10');
    expect(text).toContain('egress_sentinel_dead_letters_total{source="kafka:logs"} 1');
    expect(text).toContain('egress_sentinel_lines_skipped_total{reason="proxy-log"} 2');
    expect(text).toContain('egress_sentinel_alerts_total{rule="new-destination"} 2');
    expect(text).toContain('egress_sentinel_alerts_total{rule="beaconing"} 1');
    expect(text).toContain('egress_sentinel_consumer_lag_messages{topic="logs",partition="3"} 20');
    expect(text).toContain('egress_sentinel_consumer_lag_messages{topic="mesh-logs",partition="1"} 5');
    expect(text).toContain('egress_sentinel_state_keys{partition="3"} 42');
    expect(text).toContain('egress_sentinel_state_restore_seconds_count 1');
    expect(text).toContain('egress_sentinel_sink_retries_total{sink="elasticsearch"} 1');
    expect(text).toMatch(/egress_sentinel_process_resident_memory_bytes \d+/);
  });

  it('is live at once but ready only when every required condition holds', async () => {
    const { health, url } = await start();
    health.require('partitions-assigned');
    health.require('state-restored');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({
      ready: false,
      conditions: { 'partitions-assigned': false },
    });
    health.set('partitions-assigned', true);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    health.set('state-restored', true);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    health.fail('consumer crashed');
    expect((await fetch(`${url}/healthz`)).status).toBe(503);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
  });

  it('answers 404 for other paths and reports a taken port clearly', async () => {
    const { url } = await start();
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    const port = Number(new URL(url).port);
    await expect(
      startMetricsServer({
        host: '127.0.0.1',
        port,
        registry: new PipelineMetrics({ defaultMetrics: false }).registry,
        health: new Health(),
      }),
    ).rejects.toThrow(`Cannot listen on 127.0.0.1:${port} for metrics: EADDRINUSE`);
  });

  it('defaults the metrics section of the pipeline config and rejects a bad port', () => {
    expect(parsePipelineConfig({}, 'x.yaml').metrics).toEqual({ enabled: true, host: '0.0.0.0', port: 9464 });
    expect(() => parsePipelineConfig({ metrics: { port: 70000 } }, 'x.yaml')).toThrow(/metrics\.port/);
  });
});
