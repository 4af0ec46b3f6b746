import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
});
