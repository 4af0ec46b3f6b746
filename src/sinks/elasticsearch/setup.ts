/**
 * Cluster preparation, shared by the sink's start-up and `egress-sentinel setup elasticsearch`:
 * check the APIs the project relies on exist (a stripped node answers "no handler found"), install
 * the index templates, and keep retention: an ILM policy where the cluster has ILM, otherwise
 * deleting backing indices and dated indices older than the retention period.
 */
import type { Client } from '@elastic/elasticsearch';
import { SentinelError } from '../../errors.js';
import { datedIndex, datedIndexStart, indexNames, indexTemplates } from './mappings.js';

export interface ApiCheck {
  readonly ilm: boolean;
}

function statusOf(err: unknown): number | undefined {
  return (err as { meta?: { statusCode?: number } })?.meta?.statusCode;
}

/** A request error that means "this endpoint does not exist on this server". */
function isMissingApi(err: unknown): boolean {
  const status = statusOf(err);
  const text = JSON.stringify(
    (err as { meta?: { body?: unknown } })?.meta?.body ?? (err as Error)?.message ?? '',
  );
  return (
    (status === 400 || status === 404 || status === 405 || status === 410) &&
    /no handler found|Incorrect HTTP method|not found/i.test(text)
  );
}

/** Translates a client error into one that names the server and the likely cause. */
export function describeEsError(err: unknown, url: string, doing: string): SentinelError {
  const status = statusOf(err);
  const message = (err as Error)?.message ?? String(err);
  if (status === 401 || status === 403)
    return new SentinelError(
      'ESN_AUTH',
      `Elasticsearch ${url} refused the credentials while ${doing} (${status}): ${message}`,
      {
        cause: err,
        where: url,
      },
    );
  if (status === undefined || status === null || status === 0)
    return new SentinelError(
      'ESN_SERVER_UNREACHABLE',
      `Cannot reach Elasticsearch at ${url} while ${doing}: ${message}`,
      {
        cause: err,
        where: url,
      },
    );
  return new SentinelError('ESN_SINK', `Elasticsearch ${url} failed while ${doing} (${status}): ${message}`, {
    cause: err,
    where: url,
  });
}

/** An empty bulk body is refused with 400 "request body is required" where _bulk exists. */
function emptyBulkIsFine(err: unknown): void {
  if (statusOf(err) === 400 && !isMissingApi(err)) return;
  throw err;
}

/** Fails loudly (ESN_SERVER_API_MISSING) when an API the sink needs is absent; reports whether ILM exists. */
export async function checkApis(client: Client, url: string): Promise<ApiCheck> {
  const required: Array<[string, () => Promise<unknown>]> = [
    [
      'index templates (GET _index_template)',
      () => client.indices.getIndexTemplate({ name: 'egress-sentinel-*' }, { ignore: [404] }),
    ],
    // GET _data_stream is absent on a stripped node although data streams work; _resolve/index lists them.
    [
      'index resolution (GET _resolve/index)',
      () => client.indices.resolveIndex({ name: 'egress-sentinel-*' }),
    ],
    ['bulk (POST _bulk)', () => client.bulk({ operations: [] }).catch(emptyBulkIsFine)],
    ['aliases (GET _alias)', () => client.indices.getAlias({ name: 'egress-sentinel-*' }, { ignore: [404] })],
    [
      'search (GET _search)',
      () => client.search({ index: 'egress-sentinel-*', size: 0, allow_no_indices: true }),
    ],
  ];
  for (const [what, call] of required) {
    try {
      await call();
    } catch (err) {
      if (isMissingApi(err))
        throw new SentinelError(
          'ESN_SERVER_API_MISSING',
          `Elasticsearch ${url} has no ${what} API, which egress-sentinel needs.`,
          {
            cause: err,
            where: url,
          },
        );
      throw describeEsError(err, url, `checking ${what}`);
    }
  }
  let ilm = false;
  try {
    await client.ilm.getStatus();
    ilm = true;
  } catch (err) {
    if (!isMissingApi(err) && statusOf(err) !== 400 && statusOf(err) !== 404)
      throw describeEsError(err, url, 'checking ILM');
  }
  return { ilm };
}

export interface SetupOptions {
  readonly prefix: string;
  readonly shards: number;
  readonly replicas: number;
  /** Delete data older than this many days; null keeps everything. */
  readonly retentionDays: number | null;
}

export function ilmPolicyName(prefix: string): string {
  return `${prefix}-retention`;
}

/** Installs the ILM policy (when available) and the index templates. Idempotent. */
export async function installTemplates(
  client: Client,
  url: string,
  o: SetupOptions,
  api: ApiCheck,
  now = Date.now(),
): Promise<string[]> {
  const done: string[] = [];
  let policy: string | null = null;
  try {
    if (api.ilm && o.retentionDays !== null) {
      policy = ilmPolicyName(o.prefix);
      await client.ilm.putLifecycle({
        name: policy,
        policy: {
          _meta: { managed_by: 'egress-sentinel' },
          phases: {
            hot: { min_age: '0ms', actions: { rollover: { max_age: '1d', max_primary_shard_size: '50gb' } } },
            delete: { min_age: `${o.retentionDays}d`, actions: { delete: {} } },
          },
        },
      });
      done.push(`ILM policy ${policy} (delete after ${o.retentionDays} days)`);
    }
    for (const t of indexTemplates({
      prefix: o.prefix,
      shards: o.shards,
      replicas: o.replicas,
      ilmPolicy: policy,
    })) {
      await client.indices.putIndexTemplate(t);
      done.push(`index template ${t.name}`);
    }
    // The current period's index, so the read aliases exist (dashboards) before the first alert.
    const n = indexNames(o.prefix);
    for (const index of [datedIndex(n.alerts, now, 'month'), datedIndex(n.baselines, now, 'day')]) {
      const exists = await client.indices.exists({ index });
      if (!exists) {
        await client.indices.create({ index }, { ignore: [400] });
        done.push(`index ${index}`);
      }
    }
  } catch (err) {
    throw describeEsError(err, url, 'installing index templates');
  }
  return done;
}

/**
 * Retention without ILM: deletes data stream backing indices created more than `days` ago (rolling
 * the data stream over first when its write index is that old, since a write index cannot be
 * deleted) and dated alert/baseline indices whose period ended more than `days` ago.
 */
export async function applyRetention(
  client: Client,
  prefix: string,
  days: number,
  now = Date.now(),
): Promise<string[]> {
  const cutoff = now - days * 86_400_000;
  const n = indexNames(prefix);
  const deleted: string[] = [];
  for (const ds of [n.flows, n.events]) {
    // A wildcard, so a stream that does not exist yet is an empty answer rather than a 404.
    const resolved = await client.indices.resolveIndex({ name: `${ds}*` });
    const stream = resolved.data_streams.find((d) => d.name === ds);
    if (stream === undefined) continue;
    const backing = Array.isArray(stream.backing_indices) ? stream.backing_indices : [stream.backing_indices];
    const settings = await client.indices.getSettings({
      index: backing.join(','),
      name: 'index.creation_date',
    });
    const created = (index: string): number => Number(settings[index]?.settings?.index?.creation_date ?? now);
    const writeIndex = backing[backing.length - 1] as string;
    // The write index cannot be deleted: roll over first so an idle stream's old data can go.
    if (created(writeIndex) < cutoff) await client.indices.rollover({ alias: ds });
    for (const index of backing) {
      if (created(index) < cutoff) {
        await client.indices.delete({ index });
        deleted.push(index);
      }
    }
  }
  for (const [alias, periodMs] of [
    [n.alerts, 31 * 86_400_000],
    [n.baselines, 86_400_000],
  ] as const) {
    const resp = await client.indices.get({
      index: `${alias}-*`,
      allow_no_indices: true,
      expand_wildcards: 'open',
    });
    for (const index of Object.keys(resp)) {
      const start = datedIndexStart(alias, index);
      if (start !== null && start + periodMs < cutoff) {
        await client.indices.delete({ index });
        deleted.push(index);
      }
    }
  }
  return deleted;
}
