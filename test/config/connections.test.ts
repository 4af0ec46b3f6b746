import { describe, expect, it } from 'vitest';
import {
  ElasticsearchConnectionSchema,
  KafkaConnectionSchema,
  resolveElasticsearchOptions,
  resolveKafkaConfig,
} from '../../src/config/connections.js';
import { DEFAULT_KAFKA_BROKERS } from '../../src/config/defaults.js';

const kafka = (raw: unknown) => KafkaConnectionSchema.parse(raw);
const es = (raw: unknown) => ElasticsearchConnectionSchema.parse(raw);

describe('Kafka connection', () => {
  it('takes brokers from the config, else KAFKA_BROKERS, else the default', () => {
    expect(resolveKafkaConfig(kafka({ brokers: ['a:1'] }), { KAFKA_BROKERS: 'b:2' }).brokers).toEqual([
      'a:1',
    ]);
    expect(resolveKafkaConfig(kafka({}), { KAFKA_BROKERS: 'b:2, c:3' }).brokers).toEqual(['b:2', 'c:3']);
    expect(resolveKafkaConfig(kafka({}), {}).brokers).toEqual(DEFAULT_KAFKA_BROKERS.split(','));
  });

  it('turns on SASL from KAFKA_SASL_USERNAME and reads the password from KAFKA_SASL_PASSWORD', () => {
    const c = resolveKafkaConfig(kafka({}), {
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'pw',
      KAFKA_TLS: 'true',
    });
    expect(c.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'svc', password: 'pw' });
    expect(c.ssl).toMatchObject({ rejectUnauthorized: true });
  });

  it('names the missing variable, never a value', () => {
    expect(() =>
      resolveKafkaConfig(kafka({ sasl: { username: 'svc', password: { env: 'MY_PW' } } }), {}),
    ).toThrow('Kafka SASL password: the environment variable MY_PW is not set.');
  });

  it('rejects brokers that are not host:port', () => {
    expect(KafkaConnectionSchema.safeParse({ brokers: ['kafka'] }).success).toBe(false);
  });
});

describe('Elasticsearch connection', () => {
  it('prefers an API key, else basic auth, and never retries inside the client', () => {
    const withKey = resolveElasticsearchOptions(es({ url: 'https://es:9200' }), {
      ELASTICSEARCH_API_KEY: 'k==',
    });
    expect(withKey).toMatchObject({ node: 'https://es:9200', auth: { apiKey: 'k==' }, maxRetries: 0 });
    const basic = resolveElasticsearchOptions(es({}), {
      ELASTICSEARCH_URL: 'http://x:9200',
      ELASTICSEARCH_USERNAME: 'u',
      ELASTICSEARCH_PASSWORD: 'p',
    });
    expect(basic).toMatchObject({ node: 'http://x:9200', auth: { username: 'u', password: 'p' } });
  });

  it('fails clearly when a basic-auth user has no password', () => {
    expect(() => resolveElasticsearchOptions(es({ username: 'u' }), {})).toThrow(
      /ELASTICSEARCH_PASSWORD is not set/,
    );
  });

  it('rejects a URL that is not one, with the field path', () => {
    const r = ElasticsearchConnectionSchema.safeParse({ url: 'elasticsearch' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['url']);
  });
});

describe('Kafka source connection (the same schema and resolver as the sinks)', async () => {
  const { SourceConfigSchema, createSource } = await import('../../src/sources/registry.js');
  const { PipelineConfigSchema } = await import('../../src/pipeline/config.js');
  const { formatIssues } = await import('../../src/errors.js');
  const source = SourceConfigSchema.parse({ type: 'kafka', topics: ['t'] });
  if (source.type !== 'kafka') throw new Error('expected a kafka source');

  it('takes brokers from KAFKA_BROKERS when the config names none', () => {
    expect(source.connection).toEqual({ clientId: 'egress-sentinel' });
    expect(resolveKafkaConfig(source.connection, { KAFKA_BROKERS: 'kafka:9092' }).brokers).toEqual([
      'kafka:9092',
    ]);
  });

  it('adds SASL and TLS from KAFKA_* when the config has none', () => {
    const out = resolveKafkaConfig(source.connection, {
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_TLS: 'true',
    });
    expect(out).toMatchObject({
      ssl: { rejectUnauthorized: true },
      sasl: { mechanism: 'plain', username: 'u', password: 'p' },
    });
  });

  it('rejects an unknown KAFKA_SASL_MECHANISM by name', () => {
    expect(() =>
      resolveKafkaConfig(source.connection, {
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
        KAFKA_SASL_MECHANISM: 'gssapi',
      }),
    ).toThrow('KAFKA_SASL_MECHANISM: expected plain, scram-sha-256 or scram-sha-512, got "gssapi".');
  });

  it('names the missing password variable when the source is created', () => {
    expect(() => createSource(source, { KAFKA_SASL_USERNAME: 'u' })).toThrow(
      'KAFKA_SASL_PASSWORD is not set',
    );
  });

  it('refuses a literal SASL password and the old top-level brokers, with their paths', () => {
    const r = PipelineConfigSchema.safeParse({
      sources: [
        {
          type: 'kafka',
          topics: ['t'],
          brokers: ['kafka:9092'],
          connection: { sasl: { username: 'u', password: 'secret' } },
        },
      ],
    });
    expect(r.success).toBe(false);
    const lines = formatIssues(r.error?.issues ?? []).join('\n');
    expect(lines).toMatch(/^sources\[0\]: Unrecognized key: "brokers"$/m);
    expect(lines).toMatch(/^sources\[0\]\.connection\.sasl\.password: /m);
  });

  it('names the camelCase key an old snake_case key became', () => {
    const r = PipelineConfigSchema.safeParse({
      sinks: [{ type: 'elasticsearch', index_prefix: 'x' }],
      delivery: { dead_letter_file: 'd.jsonl' },
    });
    expect(formatIssues(r.error?.issues ?? [])).toEqual([
      'sinks[0]: Unrecognized key: "index_prefix" (keys are camelCase: index_prefix -> indexPrefix)',
      'delivery: Unrecognized key: "dead_letter_file" (keys are camelCase: dead_letter_file -> deadLetterFile)',
    ]);
  });
});
