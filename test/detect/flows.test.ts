import { describe, expect, it } from 'vitest';
import { FlowAggregator } from '../../src/detect/flows.js';
import type { EgressEvent } from '../../src/identity/types.js';

const T0 = Date.UTC(2025, 2, 1, 10, 0, 0);

function event(time: number, over: Partial<EgressEvent> = {}, origin = `file:${time}`): EgressEvent {
  return {
    time,
    reporter: 'sidecar',
    protocol: 'http',
    path: 'passthrough',
    cluster: 'PassthroughCluster',
    bytesUp: 100,
    bytesDown: 1000,
    durationMs: 5,
    responseCode: 200,
    responseFlags: '-',
    requestId: null,
    method: 'GET',
    httpPath: '/',
    source: {
      principal: null,
      namespace: 'app-a',
      workload: 'app-a',
      pod: 'app-a-1',
      ip: '10.0.0.5',
      attribution: 'metadata',
      key: 'app-a/app-a',
    },
    destination: {
      host: 'api.example.com',
      registeredDomain: 'example.com',
      ip: null,
      port: 443,
      external: true,
    },
    origin,
    ...over,
  };
}

describe('FlowAggregator', () => {
  it('emits a minute only after the watermark passes its end, with totals that match the input', () => {
    const agg = new FlowAggregator({ allowedLatenessMs: 10_000, snapshotIntervalMs: 0, baselineTtlMs: 1e9 });
    agg.observe(event(T0 + 1_000));
    agg.observe(event(T0 + 2_000, { protocol: 'tcp', bytesUp: 7, bytesDown: 9 }));
    agg.observe(event(T0 + 65_000));
    expect(agg.drain().flows).toEqual([]);
    agg.observe(event(T0 + 70_000, { responseCode: 503 }));
    const { flows } = agg.drain();
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({
      '@timestamp': new Date(T0).toISOString(),
      requests: 1,
      connections: 1,
      bytes_up: 107,
      bytes_down: 1009,
      late: false,
    });
    expect(agg.openSince()).toBe(T0 + 60_000);
    const rest = agg.drain(true).flows;
    expect(rest[0]).toMatchObject({ requests: 2, errors: 1 });
  });

  it('groups by source, destination, path and reporter', () => {
    const agg = new FlowAggregator({ allowedLatenessMs: 0, snapshotIntervalMs: 0, baselineTtlMs: 1e9 });
    agg.observe(event(T0));
    agg.observe(event(T0, { reporter: 'egress-gateway', path: 'gateway-to-external' }));
    agg.observe(
      event(T0, {
        destination: {
          host: 'other.example.org',
          registeredDomain: 'example.org',
          ip: null,
          port: 443,
          external: true,
        },
      }),
    );
    agg.observe(event(T0));
    const flows = agg.drain(true).flows;
    expect(flows.map((f) => f.requests).sort()).toEqual([1, 1, 2]);
  });

  it('gives the same ids on a replay of the same input', () => {
    const run = () => {
      const agg = new FlowAggregator();
      for (let i = 0; i < 300; i++) agg.observe(event(T0 + i * 1_000));
      return agg.drain(true).flows.map((f) => f.id);
    };
    const first = run();
    expect(first.length).toBe(5);
    expect(run()).toEqual(first);
  });

  it('sums events for a closed minute into a separate late document instead of rewriting it', () => {
    const agg = new FlowAggregator({ allowedLatenessMs: 0, snapshotIntervalMs: 0, baselineTtlMs: 1e9 });
    agg.observe(event(T0 + 1_000));
    agg.observe(event(T0 + 61_000));
    const first = agg.drain().flows;
    expect(first).toHaveLength(1);
    agg.observe(event(T0 + 5_000, { bytesUp: 1 }));
    const late = agg.drain().flows;
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({
      late: true,
      requests: 1,
      bytes_up: 1,
      '@timestamp': new Date(T0).toISOString(),
    });
    expect(late[0]?.id).not.toBe(first[0]?.id);
    expect(agg.lateEvents).toBe(1);
  });

  it('ignores inbound events', () => {
    const agg = new FlowAggregator();
    agg.observe(event(T0, { path: 'inbound' }));
    expect(agg.drain(true).flows).toEqual([]);
  });

  it('snapshots each active pair when event time crosses a snapshot boundary', () => {
    const agg = new FlowAggregator({
      allowedLatenessMs: 0,
      snapshotIntervalMs: 3_600_000,
      baselineTtlMs: 1e9,
    });
    // 3 requests in minute 0, 1 in minute 1, then an event in the next hour.
    for (const t of [0, 1_000, 2_000, 61_000]) agg.observe(event(T0 + t));
    agg.observe(event(T0 + 3_600_000 + 61_000));
    const { baselines } = agg.drain();
    expect(baselines).toHaveLength(1);
    expect(baselines[0]).toMatchObject({
      '@timestamp': new Date(T0 + 3_600_000).toISOString(),
      source: { key: 'app-a/app-a' },
      destination: { domain: 'api.example.com' },
      active_minutes: 2,
      requests: 4,
      rate_mean: 2,
      rate_stddev: 1,
    });
  });
});
