/**
 * The simulator and the ingest stage must agree: every simulated line, in every format and envelope,
 * decodes without a malformed line, and the normaliser reads each leg's path, reporter and source the
 * way the simulator meant it.
 */
import { describe, expect, it } from 'vitest';
import { MeshConfigSchema } from '../../src/identity/config.js';
import { Normalizer } from '../../src/identity/normalizer.js';
import type { EgressPath } from '../../src/identity/types.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import type { AccessRecord, ShipperMeta } from '../../src/parse/types.js';
import { ATTACK_NAMES } from '../../src/simulate/attacks.js';
import { ENVELOPES } from '../../src/simulate/envelope.js';
import { generateTraffic } from '../../src/simulate/generate.js';
import type { SimRecord } from '../../src/simulate/record.js';
import { HOUR } from '../../src/simulate/topology.js';

const START = Date.parse('2025-03-03T00:00:00Z');

function expectedPath(r: SimRecord): EgressPath {
  if (r.cluster.startsWith('inbound|')) return 'inbound';
  if (r.cluster === 'PassthroughCluster') return 'passthrough';
  if (r.cluster === 'BlackHoleCluster') return 'blackhole';
  if (r.cluster.endsWith('egressgateway.istio-system.svc.cluster.local')) return 'sidecar-to-gateway';
  if (r.reporter.spec.kind === 'gateway') return 'gateway-to-external';
  return 'internal';
}

describe('simulated lines through the real decoder and normaliser', () => {
  for (const format of ['text', 'json'] as const) {
    for (const envelope of ENVELOPES) {
      it(`${format} in ${envelope}: all lines decode, and paths and sources come out as simulated`, () => {
        const traffic = generateTraffic({
          format,
          envelope,
          durationMs: 2 * HOUR,
          attacks: ATTACK_NAMES,
          attackStart: START + 30 * 60_000,
          attackSpacing: 5 * 60_000,
        });
        const records = [...traffic.records()];
        const normalizer = new Normalizer(MeshConfigSchema.parse({}));
        const decoder = new LineDecoder();
        const problems: string[] = [];
        const paths: string[] = [];
        const sources: string[] = [];
        let i = 0;
        /** Pods whose sidecar lines were read: a gateway leg can name its caller only after one. */
        const sidecarIps = new Set<string>();
        for (const line of traffic) {
          const sim = records[i++] as SimRecord;
          if (sim.reporter.spec.kind !== 'gateway') sidecarIps.add(sim.reporter.ip);
          const callerRead = sidecarIps.has(
            sim.downstreamRemote.slice(0, sim.downstreamRemote.lastIndexOf(':')),
          );
          let got = 0;
          decoder.decode(line, {
            access(record: AccessRecord, meta: ShipperMeta) {
              got++;
              const e = normalizer.normalize(record, meta, { source: 'sim', position: String(i) });
              if (e.path !== expectedPath(sim))
                paths.push(`line ${i}: ${e.path} != ${expectedPath(sim)} (${sim.cluster})`);
              const gatewayLeg = sim.reporter.spec.kind === 'gateway';
              if (envelope === 'none') {
                // Bare lines carry no pod metadata: only the JSON gateway leg names its caller (peer URI SAN).
                if (
                  format === 'json' &&
                  gatewayLeg &&
                  sim.peerUriSan !== '-' &&
                  e.source.principal !== sim.peerUriSan
                ) {
                  sources.push(`line ${i}: principal ${e.source.principal} != ${sim.peerUriSan}`);
                }
                return;
              }
              const want = gatewayLeg
                ? sim.peerUriSan.replace(/^spiffe:\/\/cluster\.local\/ns\/([^/]+)\/sa\/(.+)$/, '$1/$2')
                : `${sim.reporter.spec.namespace}/${sim.reporter.spec.workload}`;
              // Gateway legs with no peer (the outsider) have nobody to attribute to, nor those whose
              // caller's first sidecar line is shipped after them; inbound lines are not egress.
              if (
                (!gatewayLeg || (sim.peerUriSan !== '-' && callerRead)) &&
                e.path !== 'inbound' &&
                e.source.key !== want
              ) {
                sources.push(`line ${i}: ${e.source.key} != ${want}`);
              }
            },
            skipped(reason) {
              problems.push(`line ${i} skipped: ${reason}`);
            },
            malformed(reason) {
              problems.push(`line ${i} malformed: ${reason}`);
            },
          });
          if (got !== 1) problems.push(`line ${i}: ${got} records`);
        }
        expect(problems.slice(0, 5)).toEqual([]);
        expect(paths.slice(0, 5)).toEqual([]);
        expect(sources.slice(0, 5)).toEqual([]);
      });
    }
  }
});
