/**
 * deploy/istio/ambient: the egress waypoint, ServiceEntries sent through it, the allow-list attached
 * with targetRefs (read by egress-sentinel with the default policyTarget), and the Fluent Bit input
 * that ships ztunnel's and the waypoint's logs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parsePolicyDocuments } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { policyRequest } from '../helpers/policy-request.js';
import { type Manifest, render } from './kustomize.js';

type Obj = Record<string, unknown>;
const ms = render('deploy/istio/ambient');
const of = (kind: string) => ms.filter((m) => m.kind === kind);

describe('deploy/istio/ambient', () => {
  it('has one egress waypoint, and every ServiceEntry is sent through it', () => {
    const [gateway] = of('Gateway') as Manifest[];
    expect(gateway?.metadata).toMatchObject({ name: 'waypoint', namespace: 'istio-egress' });
    expect((gateway?.spec as Obj).gatewayClassName).toBe('istio-waypoint');
    const entries = of('ServiceEntry');
    expect(entries.length).toBeGreaterThan(0);
    for (const se of entries) {
      expect(se.metadata.labels?.['istio.io/use-waypoint'], se.metadata.name).toBe(gateway?.metadata.name);
      expect(se.metadata.namespace).toBe(gateway?.metadata.namespace);
    }
  });

  it('attaches the allow-list to the waypoint, and egress-sentinel applies it (default policyTarget)', () => {
    const file = 'deploy/istio/ambient/authorization-policy.yaml';
    const parsed = parsePolicyDocuments(readFileSync(file, 'utf8'), file);
    expect(parsed.notApplied).toEqual([]);
    const policies = new PolicySet(parsed.evaluators);
    // The SNI the waypoint logged (TLS passthrough): what `connection.sni` reads.
    const req = (namespace: string, sa: string, host: string) =>
      policyRequest({ principal: `cluster.local/ns/${namespace}/sa/${sa}`, namespace, workload: sa, host });
    expect(policies.decide(req('app-a', 'app-a', 'api.ibm.com')).verdict).toBe('allow');
    expect(policies.decide(req('app-a', 'app-a', 'mongo1.composedb.com')).verdict).toBe('deny');
    expect(policies.decide(req('app-b', 'app-b', 'mongo1.composedb.com')).verdict).toBe('allow');
  });

  it('logs the waypoint through the provider that adds the peer principal', () => {
    const [telemetry] = of('Telemetry');
    const refs = (telemetry?.spec as Obj).targetRefs as Obj[];
    expect(refs[0]).toMatchObject({ kind: 'Gateway', name: 'waypoint' });
    const mesh = parseYaml(readFileSync('deploy/istio/mesh-config.yaml', 'utf8')) as Obj;
    expect(JSON.stringify(mesh)).toContain('egress-json');
  });

  it('keeps ztunnel at level info (its access records are info)', () => {
    const values = parseYaml(readFileSync('deploy/istio/ambient/ztunnel-values.yaml', 'utf8')) as Obj;
    expect(values.logLevel).toBe('info');
  });
});

describe('deploy/fluent-bit ships ambient logs', () => {
  it("tails the ztunnel DaemonSet's and the waypoint's istio-proxy containers", () => {
    const conf = readFileSync('deploy/fluent-bit/fluent-bit.conf', 'utf8');
    const glob = /Path\s+(\S+)/.exec(conf)?.[1] ?? '';
    const re = new RegExp(`^${glob.replaceAll('.', '\\.').replaceAll('*', '.*')}$`);
    expect(re.test('/var/log/containers/ztunnel-x7k2q_istio-system_istio-proxy-0f1e2d3c4b5a.log')).toBe(true);
    expect(
      re.test('/var/log/containers/waypoint-5d7f9c8b6-q2w4z_istio-egress_istio-proxy-9a8b7c6d5e4f.log'),
    ).toBe(true);
  });
});
