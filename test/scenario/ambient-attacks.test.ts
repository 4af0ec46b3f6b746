/**
 * The seed's threat model on an ambient mesh (ztunnel + an egress waypoint, no sidecars) and on a
 * mixed one (app A, the frontend and the metrics agent in ambient namespaces; app B and the nightly
 * backup with sidecars, using the classic egress gateway): three simulated days, every attack on the
 * third, replayed through the whole pipeline core with the seed's policies. In ambient mode the
 * mesh blocks nothing: the sidecar mesh's REGISTRY_ONLY probing becomes ambient bypass. Each attack
 * must raise its rule within the time to detect, and nothing may fire before the attacks.
 */
import { describe, expect, it } from 'vitest';
import { coreProcessor, replayThroughCore } from '../../bench/core-replay.js';
import type { Dataplane } from '../../src/simulate/ambient.js';
import type { EnvelopeName } from '../../src/simulate/envelope.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import type { LogFormat } from '../../src/simulate/render.js';
import { itDetectsTheSeedAttacks, THREE_DAYS_OF_ATTACKS } from '../helpers/seed-attacks.js';

function replay(dataplane: Dataplane, format: LogFormat, envelope: EnvelopeName) {
  const traffic = generateTraffic({
    ...THREE_DAYS_OF_ATTACKS,
    format,
    envelope,
    dataplane,
  });
  const processor = coreProcessor();
  let ztunnelLines = 0;
  let waypointLines = 0;
  function* counted() {
    for (const line of traffic) {
      if (line.includes('connection complete')) ztunnelLines++;
      else if (line.includes('inbound-vip|')) waypointLines++;
      yield line;
    }
  }
  const alerts = replayThroughCore(processor, counted(), 'sim');
  return { manifest: traffic.manifest, alerts, processor, ztunnelLines, waypointLines };
}

describe.each([
  ['ambient', 'text', 'fluent-bit'],
  ['ambient', 'json', 'vector'],
  ['mixed', 'json', 'filebeat'],
] as const)('seed attacks on the %s mesh (%s, %s)', (dataplane, format, envelope) => {
  const { manifest, alerts, processor, ztunnelLines, waypointLines } = replay(dataplane, format, envelope);

  it('reads every line (ztunnel records and waypoint lines among them) and dead-letters none', () => {
    expect(processor.counters.lines).toBeGreaterThan(100_000);
    expect(processor.counters.malformed).toBe(0);
    expect(ztunnelLines).toBeGreaterThan(dataplane === 'ambient' ? 50_000 : 20_000);
    expect(waypointLines).toBeGreaterThan(5_000);
    expect(manifest.dataplane).toBe(dataplane);
  });

  itDetectsTheSeedAttacks(manifest, alerts);
});
