import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  DEFAULT_ALERT_TOPIC,
  DEFAULT_DEAD_LETTER_TOPIC,
  DEFAULT_ELASTICSEARCH_URL,
  DEFAULT_INPUT_TOPIC,
  DEFAULT_KAFKA_BROKERS,
  DEFAULT_KIBANA_URL,
  DEFAULT_METRICS_PORT,
} from '../../src/config/defaults.js';

// Docker cannot run on the project's machines, so this is the only check docker-compose.yml gets.
interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition?: string }>;
  entrypoint?: string[];
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

  it('gives the pipeline and the simulator the default servers and topics', () => {
    const env = service('pipeline').environment ?? {};
    expect(env.KAFKA_BROKERS).toBe('kafka:9092');
    expect(env.ELASTICSEARCH_URL).toBe('http://elasticsearch:9200');
    expect(env.INPUT_TOPIC).toBe(DEFAULT_INPUT_TOPIC);
    expect(env.ALERT_TOPIC).toBe(DEFAULT_ALERT_TOPIC);
    expect(env.DEAD_LETTER_TOPIC).toBe(DEFAULT_DEAD_LETTER_TOPIC);
    expect(Number(env.METRICS_PORT)).toBe(DEFAULT_METRICS_PORT);
    const simulator = service('simulator').entrypoint ?? [];
    expect(simulator.slice(0, 3)).toEqual(['node', 'dist/src/cli/main.js', 'simulate']);
    expect(simulator[simulator.indexOf('--to') + 1]).toBe(`kafka://kafka:9092/${DEFAULT_INPUT_TOPIC}`);
  });

  it('builds the pipeline image from the Dockerfile with the production entrypoint', () => {
    expect(service('pipeline').build).toBe('.');
    expect(dockerfile).toMatch(/^FROM node:20-slim/m);
    expect(dockerfile).toContain('RUN npm ci');
    expect(dockerfile).toContain('npm run build');
    expect(dockerfile).toContain(
      'ENTRYPOINT ["node", "dist/src/cli/main.js", "run", "--config", "pipelines/production.yaml"]',
    );
  });
});
