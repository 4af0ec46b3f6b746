/**
 * Renders every kustomization under deploy/ (with the small renderer in ./kustomize.ts; also with
 * `kubectl kustomize` when the machine has it, and the two must agree), checks each manifest's
 * identity fields and the things the deployment depends on, and validates the pipeline config and
 * policies in the ConfigMap with the real schema and parser.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { EGRESS_SHAPES, subsetFor } from '../../src/simulate/benign.js';
import { type Manifest, render } from './kustomize.js';

const KUSTOMIZATIONS = [
  'deploy/k8s/base',
  'deploy/k8s/overlays/dev',
  'deploy/k8s/overlays/production',
  'deploy/k8s/overlays/scaled',
  'deploy/istio',
  'deploy/fluent-bit',
];
const find = (ms: Manifest[], kind: string, name?: string) =>
  ms.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
type Obj = Record<string, unknown>;

function kubectl(dir: string): Manifest[] | null {
  if (!existsSync('/usr/bin/kubectl')) return null;
  try {
    const out = execFileSync('/usr/bin/kubectl', ['kustomize', dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return parseAllDocuments(out).map((d) => d.toJS() as Manifest);
  } catch {
    return null; // a kubectl that cannot run offline is no reference
  }
}

describe('deploy manifests', () => {
  for (const dir of KUSTOMIZATIONS) {
    it(`${dir} renders to manifests with apiVersion, kind and metadata.name`, () => {
      const ms = render(dir);
      expect(ms.length).toBeGreaterThan(2);
      for (const m of ms) {
        expect(m.apiVersion, JSON.stringify(m).slice(0, 80)).toMatch(
          /^([a-z0-9.-]+\/)?v\d+(alpha\d+|beta\d+)?$/,
        );
        expect(m.kind).toMatch(/^[A-Z][A-Za-z]+$/);
        expect(m.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      }
      const reference = kubectl(dir);
      if (reference !== null) {
        const ids = (list: Manifest[]) =>
          list
            .map(
              (m) =>
                `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`,
            )
            .sort();
        expect(ids(ms)).toEqual(ids(reference));
      }
    });
  }

  it('runs the pipeline with probes on the metrics port, resources, and secrets by reference only', () => {
    const ms = render('deploy/k8s/overlays/production');
    const deployment = find(ms, 'Deployment', 'egress-sentinel') as Manifest;
    const pod = (deployment.spec as Obj).template as Obj;
    const container = ((pod.spec as Obj).containers as Obj[])[0] as Obj;
    expect((container.ports as Obj[])[0]).toMatchObject({ name: 'metrics', containerPort: 9464 });
    expect(container.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'metrics' } });
    expect(container.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'metrics' } });
    expect(container.resources).toEqual({ requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } });
    expect((pod.spec as Obj).serviceAccountName).toBe(find(ms, 'ServiceAccount')?.metadata.name);
    for (const e of container.env as Obj[])
      if (/KEY|PASSWORD|TOKEN|URL$/.test(String(e.name)) && String(e.name) !== 'ELASTICSEARCH_URL')
        expect(e.valueFrom, String(e.name)).toBeDefined();
    expect(ms.some((m) => m.kind === 'Secret')).toBe(false);
    const service = find(ms, 'Service') as Manifest;
    const selector = (service.spec as Obj).selector as Record<string, string>;
    const podLabels = (pod.metadata as Obj).labels as Record<string, string>;
    for (const [k, v] of Object.entries(selector)) expect(podLabels[k]).toBe(v);
    expect(((service.spec as Obj).ports as Obj[])[0]).toMatchObject({ port: 9464, targetPort: 'metrics' });
  });

  it.each([
    'deploy/k8s/base',
    'deploy/k8s/overlays/production',
    'deploy/k8s/overlays/scaled',
  ])('%s mounts a pipeline config that validates and takes its Kafka brokers from KAFKA_BROKERS', (dir) => {
    const ms = render(dir);
    const cm = find(ms, 'ConfigMap', 'egress-sentinel-config') as Manifest & { data: Record<string, string> };
    const config = parsePipelineConfig(parseYaml(cm.data['pipeline.yaml'] as string), `${dir} pipeline.yaml`);
    const source = config.sources[0];
    expect(source?.type === 'kafka' ? source.connection.brokers : 'not kafka').toBeUndefined();
    const container = (
      ((((find(ms, 'Deployment') as Obj).spec as Obj).template as Obj).spec as Obj).containers as Obj[]
    )[0] as Obj;
    const env = (container.env as { name: string; value?: string }[]).find((e) => e.name === 'KAFKA_BROKERS');
    expect(env?.value).toMatch(/^[^\s:,]+:\d+(,[^\s:,]+:\d+)*$/);
  });

  it('the scaled overlay pipeline config validates and takes its Kafka brokers from KAFKA_BROKERS', () => {
    // The test renderer does not do `replicas:`, so the overlay's config file is read directly.
    const file = 'deploy/k8s/overlays/scaled/pipeline.yaml';
    const config = parsePipelineConfig(parseYaml(readFileSync(file, 'utf8')), file);
    expect(config.scale.enabled).toBe(true);
    const source = config.sources[0];
    expect(source?.type === 'kafka' ? source.connection.brokers : 'not kafka').toBeUndefined();
  });

  it('mounts a ConfigMap whose pipeline config validates with the real schema and whose policies parse', () => {
    const ms = render('deploy/k8s/base');
    const cm = find(ms, 'ConfigMap', 'egress-sentinel-config') as Manifest & { data: Record<string, string> };
    const config = parsePipelineConfig(
      parseYaml(cm.data['pipeline.yaml'] as string),
      'deploy/k8s/base/pipeline.yaml',
    );
    expect(config.metrics.port).toBe(9464);
    expect(config.sinks.map((s) => s.type)).toEqual(['elasticsearch', 'kafka']);
    const policies = parseAllDocuments(cm.data['policies.yaml'] as string).map((d) => d.toJS() as Obj);
    expect(policies.map((p) => p.kind)).toEqual(['AuthorizationPolicy']);
    expect(parsePolicyText(cm.data['policies.yaml'] as string, 'policies.yaml').length).toBeGreaterThan(0);
    expect(cm.data['policies.yaml']).toBe(readFileSync('deploy/istio/authorization-policy.yaml', 'utf8'));
    // The config names the policies where the ConfigMap mounts them, and the container reads that config.
    const pod = (((find(ms, 'Deployment') as Obj).spec as Obj).template as Obj).spec as Obj;
    const container = (pod.containers as Obj[])[0] as Obj;
    const mount = (container.volumeMounts as Obj[]).find((m) => m.name === 'config') as Obj;
    expect(config.policies).toEqual([`${mount.mountPath}/policies.yaml`]);
    expect(container.args).toEqual(['run', '--config', `${mount.mountPath}/pipeline.yaml`]);
    expect(config.sources).toEqual([
      expect.objectContaining({ type: 'kafka', topics: ['istio-access-logs'] }),
    ]);
  });

  it('turns on access logs for sidecars and the gateway, with the peer principal in the JSON format', () => {
    const telemetry = render('deploy/istio').filter((m) => m.kind === 'Telemetry');
    expect(telemetry.map((t) => t.metadata.namespace)).toEqual(['istio-system', 'istio-system']);
    const mesh = parseYaml(readFileSync('deploy/istio/mesh-config.yaml', 'utf8')) as Obj;
    const providers = ((mesh.spec as Obj).meshConfig as Obj).extensionProviders as Obj[];
    const labels = (((providers[0] as Obj).envoyFileAccessLog as Obj).logFormat as Obj).labels as Record<
      string,
      string
    >;
    expect(labels.downstream_peer_uri_san).toBe('%DOWNSTREAM_PEER_URI_SAN%');
    expect(labels.upstream_cluster).toBe('%UPSTREAM_CLUSTER_RAW%');
    expect(labels.requested_server_name).toBe('%REQUESTED_SERVER_NAME%');
    for (const t of telemetry) expect(JSON.stringify(t.spec)).toContain((providers[0] as Obj).name as string);
  });

  it('lets only the egress gateway leave the cluster and allows the seed destinations at the gateway', () => {
    const ms = render('deploy/istio');
    const netpols = ms.filter((m) => m.kind === 'NetworkPolicy');
    const open = netpols.filter((n) => JSON.stringify((n.spec as Obj).egress) === '[{}]');
    expect(open.map((n) => `${n.metadata.namespace}/${JSON.stringify((n.spec as Obj).podSelector)}`)).toEqual(
      ['istio-system/{"matchLabels":{"istio":"egressgateway"}}'],
    );
    const ap = find(ms, 'AuthorizationPolicy') as Manifest;
    const rules = (ap.spec as Obj).rules as Obj[];
    const allowed = rules.map((r) => `${JSON.stringify(r.from)} -> ${JSON.stringify(r.when)}`).join('\n');
    expect(allowed).toMatch(/ns\/app-a\/sa\/app-a.*connection\.sni.*\*\.ibm\.com/);
    expect(allowed).toMatch(/ns\/app-b\/sa\/app-b.*connection\.sni.*mongo1\.composedb\.com/);
    const dr = find(ms, 'DestinationRule') as Manifest;
    expect((dr.spec as Obj).host).toBe('istio-egressgateway.istio-system.svc.cluster.local');
  });

  it("routes app B's database as plain TCP through the gateway, the shape the simulator and demo use", () => {
    const shape = EGRESS_SHAPES['mongo1.composedb.com'];
    expect(shape?.kind).toBe('tcp');
    const port = shape?.kind === 'tcp' ? shape.port : 0;
    const ms = render('deploy/istio');
    const entry = ms.find(
      (m) =>
        m.kind === 'ServiceEntry' && JSON.stringify((m.spec as Obj).hosts).includes('mongo1.composedb.com'),
    ) as Manifest;
    expect((entry.spec as Obj).ports).toEqual([expect.objectContaining({ number: port, protocol: 'TCP' })]);
    const vs = ms.find(
      (m) =>
        m.kind === 'VirtualService' && JSON.stringify((m.spec as Obj).hosts) === '["mongo1.composedb.com"]',
    ) as Manifest;
    const spec = vs.spec as Obj;
    expect(spec.tls).toBeUndefined(); // no SNI from the app to route by
    const [fromSidecar, fromGateway] = spec.tcp as Obj[];
    expect(fromSidecar).toMatchObject({
      match: [{ gateways: ['mesh'], port }],
      route: [
        { destination: { host: 'istio-egressgateway.istio-system.svc.cluster.local', subset: 'composedb' } },
      ],
    });
    const hopPort = ((((fromSidecar?.route as Obj[])[0] as Obj).destination as Obj).port as Obj).number;
    expect(fromGateway).toMatchObject({
      match: [{ gateways: ['istio-egressgateway'], port: hopPort }],
      route: [{ destination: { host: 'mongo1.composedb.com', port: { number: port } } }],
    });
    // The gateway picks the mongo server by the hop's SNI, which the subset sets to the host (what
    // the AuthorizationPolicy's connection.sni and the simulator's gateway line see).
    const servers = ((find(ms, 'Gateway') as Manifest).spec as Obj).servers as Obj[];
    const server = servers.find((s) => JSON.stringify(s.hosts) === '["mongo1.composedb.com"]') as Obj;
    expect(server).toMatchObject({
      port: { number: hopPort, protocol: 'TLS' },
      tls: { mode: 'ISTIO_MUTUAL' },
    });
    const subsets = ((find(ms, 'DestinationRule') as Manifest).spec as Obj).subsets as Obj[];
    const subset = subsets.find((s) => s.name === subsetFor('mongo1.composedb.com')) as Obj;
    expect(JSON.stringify(subset.trafficPolicy)).toContain(
      `{"port":{"number":${hopPort}},"tls":{"mode":"ISTIO_MUTUAL","sni":"mongo1.composedb.com"}}`,
    );
  });

  it('ships istio-proxy logs with Kubernetes metadata to the pipeline topic', () => {
    const ms = render('deploy/fluent-bit');
    const conf = (find(ms, 'ConfigMap') as Manifest & { data: Record<string, string> }).data[
      'fluent-bit.conf'
    ] as string;
    expect(conf).toMatch(/Path\s+\/var\/log\/containers\/\*_istio-proxy-\*\.log/);
    expect(conf).toMatch(/Name\s+kubernetes/);
    expect(conf).toMatch(/Topics\s+istio-access-logs/);
    expect(find(ms, 'DaemonSet')).toBeDefined();
    const binding = find(ms, 'ClusterRoleBinding') as Manifest;
    expect((binding.subjects as Obj[])[0]).toMatchObject({ name: 'fluent-bit', namespace: 'logging' });
  });
});
