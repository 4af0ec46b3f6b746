/**
 * Every registered sink honours the component contract (Vector's assert_sink_compliance): its spec
 * describes it, its settings are described and strict, its example parses and builds a sink named
 * as `check` expects, and the `sinks` union accepts it.
 */
import { describe, expect, it } from 'vitest';
import { SINK_TYPES, SINKS, SinkConfigSchema, sinkProblems } from '../../src/sinks/registry.js';
import type { SinkSpec } from '../../src/sinks/spec.js';
import type { SinkContext } from '../../src/sinks/types.js';
import { expectDescribedSchema } from '../helpers/component-spec.js';

const specs = SINKS.map((s) => [s.type, s as unknown as SinkSpec] as const);

const env = {
  ELASTICSEARCH_API_KEY: 'k',
  WEBHOOK_SECRET: 's',
  PAGERDUTY_ROUTING_KEY: 'r',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X',
};

function context(): SinkContext {
  return {
    deadLetter: async () => {},
    log: () => {},
    env,
    signal: new AbortController().signal,
  };
}

it('sink types are unique and all in the config union', () => {
  expect(new Set(SINK_TYPES).size).toBe(SINKS.length);
  expect(SinkConfigSchema.options.map((o) => o.shape.type.value)).toEqual(SINK_TYPES);
});

describe.each(specs)('sink %s', (type, spec) => {
  it('has a one-line summary and every setting described', () => {
    expectDescribedSchema(spec.config);
  });

  it('parses its example, through the sinks union too', () => {
    const parsed = spec.config.parse(spec.example);
    expect(parsed.type).toBe(type);
    expect(SinkConfigSchema.parse(spec.example)).toEqual(parsed);
  });

  it('rejects an unknown setting, naming it', () => {
    const r = SinkConfigSchema.safeParse({ ...(spec.example as object), retires: 3 });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('retires');
  });

  it('builds from its example without connecting, under its default name', () => {
    const config = spec.config.parse(spec.example);
    const sink = spec.create(config, context());
    expect(sink.name).toBe(spec.defaultName(config));
    expect(typeof sink.start).toBe('function');
    expect(typeof sink.write).toBe('function');
    expect(typeof sink.close).toBe('function');
  });

  it('has no problems with its example when its secrets are set', () => {
    expect(sinkProblems([SinkConfigSchema.parse(spec.example)], env)).toEqual([]);
  });
});
