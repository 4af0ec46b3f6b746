/**
 * Cross-field checks that zod cannot do because they need the environment or the file system
 * (unset secret variables, missing files). `loadCheckedConfig` runs them after the schema and
 * throws one ConfigError listing every problem, each with its path.
 */
import { readSecret, type SecretRef } from '../config/connections.js';
import { redactUrl } from '../config/redact.js';
import { ConfigError } from '../errors.js';
import { loadPolicyFiles } from '../policy/load.js';
import { sinkProblems } from '../sinks/registry.js';
import { sourceProblems } from '../sources/registry.js';
import { loadPipelineConfig, type PipelineConfig } from './config.js';

/** The checks of each stage (sinks, policies, sources): each returns `path: problem` lines. */
export type ConfigCheck = (config: PipelineConfig, env: NodeJS.ProcessEnv, file: string) => string[];

const checks: ConfigCheck[] = [
  (config, env) => sinkProblems(config.sinks, env),
  // Each policy file exists and holds valid policies (the loader's message names the file and the problem).
  (config) =>
    config.policies.flatMap((file, i) => {
      try {
        loadPolicyFiles([file]);
        return [];
      } catch (err) {
        return [`policies[${i}]: ${(err as Error).message}`];
      }
    }),
  (config, env) => sourceProblems(config.sources, env),
];

export function configProblems(config: PipelineConfig, env: NodeJS.ProcessEnv, file: string): string[] {
  return checks.flatMap((c) => c(config, env, file));
}

export function loadCheckedConfig(file: string, env: NodeJS.ProcessEnv = process.env): PipelineConfig {
  const config = loadPipelineConfig(file);
  const problems = configProblems(config, env, file);
  if (problems.length > 0) throw new ConfigError(file, problems);
  return config;
}

/**
 * Settings that work but weaken what an attacker must beat (issue #15 item 7): `check` and `run`
 * print each as a warning with its path; none is an error (a lab may want them).
 */
export function securityWarnings(config: PipelineConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        walk(x, `${path}[${i}]`);
      });
      return;
    }
    const o = v as Record<string, unknown>;
    if (o.rejectUnauthorized === false)
      out.push(
        `${path}.rejectUnauthorized: false: any certificate is accepted, so anyone on the path can read and change this connection (give caFile instead).`,
      );
    if ('clientId' in o) kafkaWarnings(o, path, env, out);
    else if ('requestTimeoutMs' in o) elasticsearchWarnings(o, path, env, out);
    for (const [k, x] of Object.entries(o)) walk(x, path === '' ? k : `${path}.${k}`);
  };
  walk(config, '');
  config.sinks.forEach((sink, i) => {
    webhookWarnings(sink as unknown as Record<string, unknown>, `sinks[${i}]`, env, out);
  });
  return out;
}

function kafkaWarnings(
  c: Record<string, unknown>,
  path: string,
  env: NodeJS.ProcessEnv,
  out: string[],
): void {
  const tls =
    (c.tls as { enabled?: boolean } | undefined)?.enabled === true ||
    (c.tls === undefined && env.KAFKA_TLS === 'true');
  const sasl = c.sasl as { mechanism?: string } | undefined;
  const mechanism =
    sasl?.mechanism ??
    (env.KAFKA_SASL_USERNAME !== undefined ? (env.KAFKA_SASL_MECHANISM ?? 'scram-sha-512') : undefined);
  if (mechanism === 'plain' && !tls)
    out.push(
      `${path}.sasl: mechanism plain without tls sends the Kafka password in clear text to every broker (enable tls, or use scram-sha-512).`,
    );
}

function elasticsearchWarnings(
  c: Record<string, unknown>,
  path: string,
  env: NodeJS.ProcessEnv,
  out: string[],
): void {
  const url = (c.url as string | undefined) ?? env.ELASTICSEARCH_URL;
  if (url === undefined || !url.startsWith('http://')) return;
  if (c.apiKey !== undefined || (c.apiKey === undefined && env.ELASTICSEARCH_API_KEY))
    out.push(
      `${path}: an API key over http:// (${redactUrl(url, { keepPath: true })}) is readable by anyone on the path; use https.`,
    );
  else if (c.password !== undefined || env.ELASTICSEARCH_PASSWORD)
    out.push(
      `${path}: a password over http:// (${redactUrl(url, { keepPath: true })}) is readable by anyone on the path; use https.`,
    );
  if (hasCredentials(url))
    out.push(
      `${path}.url: credentials in the URL end up in logs and process listings; use username/password or apiKey.`,
    );
}

function webhookWarnings(
  s: Record<string, unknown>,
  path: string,
  env: NodeJS.ProcessEnv,
  out: string[],
): void {
  const type = s.type;
  if (type !== 'webhook' && type !== 'pagerduty' && type !== 'slack') return;
  let url: string | undefined;
  if (typeof s.url === 'string') url = s.url;
  else if (s.url !== undefined) {
    try {
      url = readSecret(s.url as SecretRef, env, 'url');
    } catch {
      url = undefined;
    }
  }
  if (url === undefined) return;
  if (hasCredentials(url))
    out.push(
      `${path}.url: credentials in a webhook URL end up in logs and proxies; use the signing secret (webhook) or a secret file.`,
    );
  if (url.startsWith('http://') && !isLoopback(url))
    out.push(
      `${path}.url: alerts (and any key in the URL or body) go over plain http:// to ${redactUrl(url)}; use https.`,
    );
  if (type === 'webhook' && s.secret === undefined)
    out.push(
      `${path}: no secret: receivers cannot tell this sender's alerts from forged ones (set secret; docs/delivery.md shows the check).`,
    );
}

function hasCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

function isLoopback(url: string): boolean {
  try {
    const h = new URL(url).hostname;
    return h === 'localhost' || h === '127.0.0.1' || h === '[::1]';
  } catch {
    return false;
  }
}
