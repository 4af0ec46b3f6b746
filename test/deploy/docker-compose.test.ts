import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  DEFAULT_ALERT_TOPIC,
  DEFAULT_ELASTICSEARCH_URL,
  DEFAULT_INPUT_TOPIC,
  DEFAULT_KAFKA_BROKERS,
  DEFAULT_KIBANA_URL,
  DEFAULT_METRICS_PORT,
} from '../../src/config/defaults.js';
import { loadPipelineConfig } from '../../src/pipeline/config.js';

const ROOT = join(import.meta.dirname, '..', '..');

// Docker cannot run on the project's machines, so this is the only check docker-compose.yml gets.
interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition?: string }>;
  entrypoint?: string[];
  command?: string[];
  volumes?: string[];
}

const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>;
};
const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');

function service(name: string): Service {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service '${name}'`);
  return found;
}

/** The host ports a service publishes, keyed by host port, valued by container port. */
function published(name: string): Map<number, number> {
  const ports = new Map<number, number>();
  for (const mapping of service(name).ports ?? []) {
    const [host, container] = mapping.split(':').map(Number);
    if (host === undefined || container === undefined) throw new Error(`${name}: bad port '${mapping}'`);
    ports.set(host, container);
  }
  return ports;
}

const kafkaHostPort = Number(DEFAULT_KAFKA_BROKERS.split(':')[1]);
const esPort = Number(new URL(DEFAULT_ELASTICSEARCH_URL).port);
const kibanaPort = Number(new URL(DEFAULT_KIBANA_URL).port);

describe('docker-compose.yml', () => {
  it('has the five services and the one-shot Kibana dashboard import', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'elasticsearch',
      'kafka',
      'kibana',
      'kibana-setup',
      'pipeline',
      'simulator',
    ]);
  });

  it('publishes each server on the port the pipeline defaults to', () => {
    expect(published('kafka').has(kafkaHostPort)).toBe(true);
    expect(published('elasticsearch').get(esPort)).toBe(9200);
    expect(published('kibana').get(kibanaPort)).toBe(5601);
    expect(published('pipeline').get(DEFAULT_METRICS_PORT)).toBe(DEFAULT_METRICS_PORT);
  });

  it('runs Kafka in KRaft mode and advertises the default broker address to the host', () => {
    const env = service('kafka').environment ?? {};
    expect(service('kafka').image).toMatch(/^apache\/kafka:/);
    expect(String(env.KAFKA_PROCESS_ROLES)).toContain('controller');
    expect(String(env.KAFKA_ADVERTISED_LISTENERS)).toContain(`://${DEFAULT_KAFKA_BROKERS}`);
    const containerPort = published('kafka').get(kafkaHostPort);
    expect(String(env.KAFKA_LISTENERS)).toContain(`:${containerPort}`);
    expect(String(env.KAFKA_ADVERTISED_LISTENERS)).toContain('://kafka:9092');
  });

  it('runs a single Elasticsearch 9 node without security, and Kibana pointed at it', () => {
    const es = service('elasticsearch');
    expect(es.image).toMatch(/elasticsearch:9\./);
    expect(es.environment?.['discovery.type']).toBe('single-node');
    expect(String(es.environment?.['xpack.security.enabled'])).toBe('false');
    expect(String(service('kibana').environment?.ELASTICSEARCH_HOSTS)).toContain('http://elasticsearch:9200');
  });

  it('health-checks every server on its own port, and waits for health before starting dependants', () => {
    const checkedPorts: Record<string, number> = {
      kafka: 9092,
      elasticsearch: 9200,
      kibana: 5601,
      pipeline: DEFAULT_METRICS_PORT,
    };
    for (const [name, port] of Object.entries(checkedPorts)) {
      const test = service(name).healthcheck?.test ?? [];
      expect(test.join(' '), `${name} healthcheck`).toContain(`:${port}`);
    }
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(svc.depends_on ?? {})) {
        expect(condition, `${name} -> ${dependency}`).toBe('service_healthy');
        expect(service(dependency).healthcheck?.test, `${dependency} needs a healthcheck`).toBeDefined();
      }
    }
    expect(Object.keys(service('pipeline').depends_on ?? {}).sort()).toEqual(['elasticsearch', 'kafka']);
  });

  it('gives the pipeline the servers by the variables it reads, and the simulator the default topic', () => {
    const env = service('pipeline').environment ?? {};
    expect(env).toEqual({
      KAFKA_BROKERS: 'kafka:9092',
      ELASTICSEARCH_URL: 'http://elasticsearch:9200',
      // Node's own: the heap limit (test/deploy/container.test.ts).
      NODE_OPTIONS: '--max-old-space-size=768',
    });
    expect(service('pipeline').command).toEqual(['run', '--config', 'pipelines/compose.yaml']);
    const simulator = service('simulator').command ?? [];
    expect(simulator[0]).toBe('simulate');
    expect(simulator[simulator.indexOf('--to') + 1]).toBe(`kafka://kafka:9092/${DEFAULT_INPUT_TOPIC}`);
  });

  it('reads its topics and metrics port from pipelines/compose.yaml, the defaults', () => {
    const config = loadPipelineConfig(join(ROOT, 'pipelines/compose.yaml'));
    expect(config.sources).toEqual([
      expect.objectContaining({ type: 'kafka', topics: [DEFAULT_INPUT_TOPIC] }),
    ]);
    expect(config.sinks.find((s) => s.type === 'kafka')).toMatchObject({ topic: DEFAULT_ALERT_TOPIC });
    expect(config.metrics.port).toBe(DEFAULT_METRICS_PORT);
    expect(config.sinks.map((s) => s.type).sort()).toEqual(['elasticsearch', 'kafka', 'stdout']);
  });

  it('health-checks the pipeline on /readyz', () => {
    expect((service('pipeline').healthcheck?.test ?? []).join(' ')).toContain(
      `http://127.0.0.1:${DEFAULT_METRICS_PORT}/readyz`,
    );
  });

  it("keeps Kafka's data in its volume: the broker's log dir is where the volume is mounted", () => {
    const kafka = service('kafka');
    const logDirs = String(kafka.environment?.KAFKA_LOG_DIRS);
    const mounted = (kafka.volumes ?? []).map((v) => v.split(':')[1]);
    expect(mounted).toContain(logDirs);
    const pipeline = service('pipeline');
    const deadLetters = loadPipelineConfig(join(ROOT, 'pipelines/compose.yaml')).delivery.deadLetterFile;
    expect(
      (pipeline.volumes ?? []).map((v) => v.split(':')[1]).some((m) => deadLetters.startsWith(`${m}/`)),
    ).toBe(true);
    expect(dockerfile).toContain(
      'mkdir -p /var/lib/egress-sentinel && chown node:node /var/lib/egress-sentinel',
    );
  });

  it('builds the pipeline image from the Dockerfile on Node 24 with the CLI as the entrypoint', () => {
    expect(service('pipeline').build).toBe('.');
    expect(dockerfile).toMatch(/^FROM node:24-slim/m);
    expect(dockerfile).not.toMatch(/^FROM node:(?!24)/m);
    expect(dockerfile).toContain('RUN npm ci');
    expect(dockerfile).toContain('npm run build');
    expect(dockerfile).toContain('ENTRYPOINT ["node", "dist/src/cli/main.js"]');
  });
});
