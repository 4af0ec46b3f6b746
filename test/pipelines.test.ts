import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveKafkaConfig } from '../src/config/connections.js';
import { loadPipelineConfig } from '../src/pipeline/config.js';
import { configProblems } from '../src/pipeline/validate.js';

const DIR = join(import.meta.dirname, '..', 'pipelines');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));

describe('example pipelines', () => {
  it('ship the embedded default and the production shape', () => {
    expect(files).toEqual(expect.arrayContaining(['embedded.yaml', 'production.yaml']));
  });

  it.each(files)('%s parses with the real schema', (file) => {
    expect(() => loadPipelineConfig(join(DIR, file))).not.toThrow();
  });

  it('production.yaml has every sink type of the production shape and passes the cross-field checks once its secrets are set', () => {
    const config = loadPipelineConfig(join(DIR, 'production.yaml'));
    expect(config.sinks.map((s) => s.type)).toEqual([
      'kafka',
      'elasticsearch',
      'webhook',
      'pagerduty',
      'slack',
    ]);
    const env = {
      EGRESS_SENTINEL_WEBHOOK_SECRET: 'x',
      PAGERDUTY_ROUTING_KEY: 'y',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/Z',
    };
    expect(configProblems(config, env, 'production.yaml')).toEqual([]);
    expect(configProblems(config, {}, 'production.yaml')).toEqual([
      'sinks[2] (webhook).secret: the environment variable EGRESS_SENTINEL_WEBHOOK_SECRET is not set.',
      'sinks[3] (pagerduty).routingKey: the environment variable PAGERDUTY_ROUTING_KEY is not set.',
      'sinks[4] (slack).url: the environment variable SLACK_WEBHOOK_URL is not set.',
    ]);
  });

  it('resolves policy files relative to the config file, whatever the working directory', () => {
    const config = loadPipelineConfig(join(DIR, 'embedded.yaml'));
    expect(config.policies).toEqual([resolve(DIR, '../deploy/istio/authorization-policy.yaml')]);
    expect(configProblems(config, {}, 'embedded.yaml')).toEqual([]);
  });

  it('production.yaml takes the Kafka brokers of its source and alert feed from KAFKA_BROKERS', () => {
    const config = loadPipelineConfig(join(DIR, 'production.yaml'));
    const env = { KAFKA_BROKERS: 'kafka:9092' };
    const source = config.sources[0];
    const feed = config.sinks[0];
    if (source?.type !== 'kafka' || feed?.type !== 'kafka') throw new Error('expected kafka source and sink');
    expect(resolveKafkaConfig(source.connection, env).brokers).toEqual(['kafka:9092']);
    expect(resolveKafkaConfig(feed.connection, env).brokers).toEqual(['kafka:9092']);
  });

  it('reports an unset SASL password variable of a Kafka source by its path', () => {
    const config = loadPipelineConfig(join(DIR, 'production.yaml'));
    const source = config.sources[0];
    if (source?.type !== 'kafka') throw new Error('expected a kafka source');
    source.connection.sasl = {
      mechanism: 'scram-sha-512',
      username: 'svc',
      password: { env: 'PIPELINES_TEST_UNSET_PW' },
    };
    expect(configProblems(config, {}, 'production.yaml')).toContain(
      'sources[0].connection.sasl.password: the environment variable PIPELINES_TEST_UNSET_PW is not set.',
    );
  });
});
