/**
 * How to reach Kafka and Elasticsearch: config first, then the environment, then the defaults.
 * Secrets are never literal config values: they come from an environment variable or a file, so a
 * pipeline file can be committed and logged. `resolve*` turn the config into client options and
 * name the variable or file when a secret is missing.
 */
import { readFileSync } from 'node:fs';
import type { ClientOptions } from '@elastic/elasticsearch';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { z } from 'zod';
import { SentinelError } from '../errors.js';
import { DEFAULT_ELASTICSEARCH_URL, DEFAULT_KAFKA_BROKERS } from './defaults.js';

const TlsSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Use TLS.'),
    caFile: z.string().optional().describe('PEM file of the CA that signed the server certificate.'),
    certFile: z.string().optional().describe('PEM client certificate (mutual TLS).'),
    keyFile: z.string().optional().describe('PEM client key (mutual TLS).'),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe('Refuse servers whose certificate does not verify.'),
  })
  .strict();

export type TlsConfig = z.infer<typeof TlsSchema>;

/** An http or https URL (`z.url()` alone accepts `es:9200` as a URL with the scheme `es:`). */
export const HttpUrlSchema = z.url({
  protocol: /^https?$/,
  error: 'expected an http(s) URL such as http://host:9200',
});

/** A secret: the name of an environment variable, or a file whose content (trimmed) is the secret. */
export const SecretRefSchema = z
  .object({
    env: z.string().min(1).optional().describe('Environment variable holding the secret.'),
    file: z
      .string()
      .min(1)
      .optional()
      .describe('File holding the secret (e.g. a mounted Kubernetes secret).'),
  })
  .strict()
  .refine((s) => (s.env === undefined) !== (s.file === undefined), {
    message: 'give exactly one of env or file',
  });

export type SecretRef = z.infer<typeof SecretRefSchema>;

export const KafkaConnectionSchema = z
  .object({
    brokers: z
      .array(z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port'))
      .min(1)
      .optional()
      .describe(
        'Bootstrap brokers; default $KAFKA_BROKERS (comma-separated), else the default (src/config/defaults.ts).',
      ),
    clientId: z.string().default('egress-sentinel').describe('Kafka client id.'),
    tls: TlsSchema.optional().describe('TLS to the brokers; also enabled by KAFKA_TLS=true.'),
    sasl: z
      .object({
        mechanism: z
          .enum(['plain', 'scram-sha-256', 'scram-sha-512'])
          .default('scram-sha-512')
          .describe('SASL mechanism; plain sends the password as is (check warns when it goes without TLS).'),
        username: z.string().optional().describe('Default $KAFKA_SASL_USERNAME.'),
        password: SecretRefSchema.optional().describe('Default: the variable KAFKA_SASL_PASSWORD.'),
      })
      .strict()
      .optional()
      .describe('SASL authentication; also enabled when KAFKA_SASL_USERNAME is set.'),
  })
  .strict();

export type KafkaConnection = z.infer<typeof KafkaConnectionSchema>;

export const ElasticsearchConnectionSchema = z
  .object({
    url: HttpUrlSchema.optional().describe(
      'Elasticsearch URL; default $ELASTICSEARCH_URL, else the default (src/config/defaults.ts).',
    ),
    apiKey: SecretRefSchema.optional().describe(
      'API key (base64 id:key); default the variable ELASTICSEARCH_API_KEY.',
    ),
    username: z.string().optional().describe('Basic auth user; default $ELASTICSEARCH_USERNAME.'),
    password: SecretRefSchema.optional().describe(
      'Basic auth password; default the variable ELASTICSEARCH_PASSWORD.',
    ),
    tls: TlsSchema.optional().describe('TLS settings for an https URL.'),
    requestTimeoutMs: z.number().int().positive().default(30_000).describe('Per-request timeout.'),
  })
  .strict();

export type ElasticsearchConnection = z.infer<typeof ElasticsearchConnectionSchema>;

/** Reads a secret; throws naming the variable or file (never the value). */
export function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv, what: string): string {
  if (ref.env !== undefined) {
    const value = env[ref.env];
    if (value === undefined || value === '')
      throw new SentinelError('ESN_CONFIG', `${what}: the environment variable ${ref.env} is not set.`);
    return value;
  }
  const file = ref.file as string;
  try {
    const value = readFileSync(file, 'utf8').trim();
    if (value === '') throw new Error('the file is empty');
    return value;
  } catch (err) {
    throw new SentinelError(
      'ESN_CONFIG',
      `${what}: cannot read the secret file ${file}: ${(err as Error).message}`,
    );
  }
}

/** Problems with secrets, for `check` and start-up validation (cross-field: needs the environment). */
export function secretProblems(ref: SecretRef | undefined, env: NodeJS.ProcessEnv, path: string): string[] {
  if (ref === undefined) return [];
  try {
    readSecret(ref, env, path);
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

function readPem(file: string | undefined, what: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new SentinelError('ESN_CONFIG', `Cannot read the ${what} file ${file}: ${(err as Error).message}`);
  }
}

function tlsOptions(tls: TlsConfig): {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
} {
  const out: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean } = {
    rejectUnauthorized: tls.rejectUnauthorized,
  };
  const ca = readPem(tls.caFile, 'TLS CA');
  const cert = readPem(tls.certFile, 'TLS certificate');
  const key = readPem(tls.keyFile, 'TLS key');
  if (ca !== undefined) out.ca = ca;
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  return out;
}

export function kafkaBrokers(conn: KafkaConnection, env: NodeJS.ProcessEnv): string[] {
  if (conn.brokers !== undefined) return conn.brokers;
  const fromEnv = env.KAFKA_BROKERS?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return fromEnv !== undefined && fromEnv.length > 0 ? fromEnv : DEFAULT_KAFKA_BROKERS.split(',');
}

/** kafkajs client options from the config and the environment. */
export function resolveKafkaConfig(conn: KafkaConnection, env: NodeJS.ProcessEnv): KafkaConfig {
  const config: KafkaConfig = { brokers: kafkaBrokers(conn, env), clientId: conn.clientId };
  const tls = conn.tls ?? (env.KAFKA_TLS === 'true' ? TlsSchema.parse({}) : undefined);
  if (tls?.enabled) config.ssl = tlsOptions(tls);
  const username = conn.sasl?.username ?? env.KAFKA_SASL_USERNAME;
  if (conn.sasl !== undefined || username !== undefined) {
    if (username === undefined || username === '')
      throw new SentinelError(
        'ESN_CONFIG',
        'Kafka SASL: no username (set sasl.username or KAFKA_SASL_USERNAME).',
      );
    const password = readSecret(
      conn.sasl?.password ?? { env: 'KAFKA_SASL_PASSWORD' },
      env,
      'Kafka SASL password',
    );
    const mechanism = conn.sasl?.mechanism ?? env.KAFKA_SASL_MECHANISM ?? 'scram-sha-512';
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512')
      throw new SentinelError(
        'ESN_CONFIG',
        `KAFKA_SASL_MECHANISM: expected plain, scram-sha-256 or scram-sha-512, got "${mechanism}".`,
      );
    config.sasl = { mechanism, username, password } as SASLOptions;
  }
  return config;
}

export function elasticsearchUrl(conn: ElasticsearchConnection, env: NodeJS.ProcessEnv): string {
  return conn.url ?? env.ELASTICSEARCH_URL ?? DEFAULT_ELASTICSEARCH_URL;
}

/** @elastic/elasticsearch client options from the config and the environment. */
export function resolveElasticsearchOptions(
  conn: ElasticsearchConnection,
  env: NodeJS.ProcessEnv,
): ClientOptions {
  const options: ClientOptions = {
    node: elasticsearchUrl(conn, env),
    requestTimeout: conn.requestTimeoutMs,
    // The sink retries with its own backoff; the client must not retry a whole bulk behind our back.
    maxRetries: 0,
  };
  const apiKeyRef = conn.apiKey ?? (env.ELASTICSEARCH_API_KEY ? { env: 'ELASTICSEARCH_API_KEY' } : undefined);
  const username = conn.username ?? env.ELASTICSEARCH_USERNAME;
  if (apiKeyRef !== undefined) {
    options.auth = { apiKey: readSecret(apiKeyRef, env, 'Elasticsearch API key') };
  } else if (username !== undefined && username !== '') {
    const password = readSecret(
      conn.password ?? { env: 'ELASTICSEARCH_PASSWORD' },
      env,
      'Elasticsearch password',
    );
    options.auth = { username, password };
  }
  if (conn.tls !== undefined) options.tls = tlsOptions(conn.tls);
  return options;
}
