import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { createSink, SINK_TYPES, SinkConfigSchema, sinkProblems } from '../../src/sinks/registry.js';
import { testContext } from './helpers.js';

describe('sink configuration', () => {
  it('defaults to alerts on stdout', () => {
    expect(parsePipelineConfig({}, 'x.yaml').sinks).toEqual([{ type: 'stdout', include: ['alerts'] }]);
  });

  it('reports every error at once with its path', () => {
    let caught: unknown;
    try {
      parsePipelineConfig(
        {
          sinks: [
            { type: 'stdout' },
            { type: 'webhook', url: 'not a url' },
            { type: 'elasticsearch', indexPrefix: 'Upper', bogus: 1 },
            { type: 'carrier-pigeon' },
          ],
        },
        'p.yaml',
      );
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.join('\n');
    expect(problems).toMatch(/sinks\[1\]\.url: expected an http\(s\) URL/);
    expect(problems).toMatch(/sinks\[2\]\.indexPrefix: expected a lowercase index name prefix/);
    expect(problems).toMatch(/sinks\[2\]: Unrecognized key: "bogus"/);
    expect(problems).toMatch(
      /sinks\[3\]\.type: unknown sink type; expected one of stdout, file, kafka, elasticsearch, webhook, pagerduty, slack/,
    );
  });

  it('finds unset secret variables and duplicate names before anything starts', () => {
    const cfg = parsePipelineConfig(
      {
        sinks: [
          { type: 'webhook', url: 'http://127.0.0.1:1/h', secret: { env: 'NOPE_SECRET' } },
          { type: 'pagerduty', routingKey: { file: '/nonexistent/key' } },
          { type: 'stdout' },
          { type: 'stdout' },
        ],
      },
      'p.yaml',
    );
    const problems = sinkProblems(cfg.sinks, {});
    expect(problems).toContain('sinks[0] (webhook).secret: the environment variable NOPE_SECRET is not set.');
    expect(
      problems.some((p) =>
        p.startsWith('sinks[1] (pagerduty).routingKey: cannot read the secret file /nonexistent/key'),
      ),
    ).toBe(true);
    expect(
      problems.some((p) => p.startsWith('sinks[3] (stdout).name: "stdout" is also the name of sinks[2]')),
    ).toBe(true);
  });

  it('builds each configured sink by type', () => {
    const cfg = parsePipelineConfig(
      {
        sinks: [
          { type: 'stdout' },
          { type: 'file', path: '/tmp/x.jsonl' },
          { type: 'kafka', topic: 'alerts', connection: { brokers: ['127.0.0.1:9092'] } },
          { type: 'elasticsearch', connection: { url: 'http://127.0.0.1:9200' } },
          { type: 'slack', url: { env: 'SLACK_URL' } },
        ],
      },
      'p.yaml',
    );
    const ctx = testContext({ SLACK_URL: 'https://hooks.slack.com/services/T/B/X' });
    expect(cfg.sinks.map((s) => createSink(s, ctx).name)).toEqual([
      'stdout',
      'file:/tmp/x.jsonl',
      'kafka:alerts',
      'elasticsearch',
      'slack',
    ]);
  });

  it('names every registered sink type in the unknown-type message', () => {
    expect(SinkConfigSchema.options.map((o) => o.shape.type.value)).toEqual(SINK_TYPES);
  });
});
