/**
 * `egress-sentinel setup elasticsearch [--url URL] [--config FILE] [--prefix P] [--retention-days N]`:
 * checks the cluster has the APIs the pipeline needs, installs the index templates, and keeps
 * retention: an ILM policy where the cluster has ILM, otherwise (say so, and) delete data stream
 * backing indices and dated indices older than N days. Safe to run again (e.g. from a daily cron).
 */
import { parseArgs } from 'node:util';
import { Client } from '@elastic/elasticsearch';
import {
  type ElasticsearchConnection,
  elasticsearchUrl,
  resolveElasticsearchOptions,
} from '../config/connections.js';
import { redactUrl } from '../config/redact.js';
import { SentinelError } from '../errors.js';
import { loadCheckedConfig } from '../pipeline/validate.js';
import {
  applyRetention,
  checkApis,
  describeEsError,
  installTemplates,
} from '../sinks/elasticsearch/setup.js';
import type { Command } from './command.js';

const HELP = `Usage: egress-sentinel setup elasticsearch [options]

Installs the index templates (alerts, flows, baselines, events) and keeps retention.

Options:
  --url URL              Elasticsearch URL (default: the config's sink, $ELASTICSEARCH_URL, or the default)
  --config FILE          Take the connection and index prefix from this pipeline's elasticsearch sink
  --prefix P             Index prefix (default egress-sentinel)
  --retention-days N     Delete data older than N days (ILM policy, or deleting old indices without ILM)
  --shards N, --replicas N   For new indices (default 1 and 0)
`;

export const setupCommand: Command = {
  name: 'setup',
  summary: 'Prepare Elasticsearch: index templates, aliases and retention.',
  async run(args) {
    if (args[0] === 'kibana') return (await import('./setup-kibana.js')).setupKibana(args.slice(1));
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        config: { type: 'string' },
        prefix: { type: 'string' },
        'retention-days': { type: 'string' },
        shards: { type: 'string' },
        replicas: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (positionals[0] !== 'elasticsearch' || positionals.length !== 1) {
      process.stderr.write(`egress-sentinel setup: expected "setup elasticsearch".\n${HELP}`);
      return 2;
    }
    const int = (v: string | undefined, name: string, min: number): number | null => {
      if (v === undefined) return null;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min)
        throw new SentinelError('ESN_CONFIG', `--${name}: expected an integer >= ${min}, got "${v}".`);
      return n;
    };
    let connection: ElasticsearchConnection = { requestTimeoutMs: 30_000 };
    let prefix = 'egress-sentinel';
    let shards = 1;
    let replicas = 0;
    if (values.config !== undefined) {
      const es = loadCheckedConfig(values.config).sinks.find((s) => s.type === 'elasticsearch');
      if (es === undefined)
        throw new SentinelError('ESN_CONFIG', `${values.config} has no elasticsearch sink.`);
      connection = es.connection;
      prefix = es.indexPrefix;
      shards = es.shards;
      replicas = es.replicas;
    }
    if (values.url !== undefined) connection = { ...connection, url: values.url };
    prefix = values.prefix ?? prefix;
    shards = int(values.shards, 'shards', 1) ?? shards;
    replicas = int(values.replicas, 'replicas', 0) ?? replicas;
    const retentionDays = int(values['retention-days'], 'retention-days', 1);

    // Shown and logged: without the credentials a URL like http://elastic:PASS@host carries.
    const url = redactUrl(elasticsearchUrl(connection, process.env), { keepPath: true });
    const client = new Client(resolveElasticsearchOptions(connection, process.env));
    const say = (line: string): void => {
      process.stdout.write(`${line}\n`);
    };
    try {
      const api = await checkApis(client, url);
      say(`Elasticsearch ${url}: index templates, data streams, aliases and search are available.`);
      for (const done of await installTemplates(
        client,
        url,
        { prefix, shards, replicas, retentionDays },
        api,
      ))
        say(`Installed ${done}.`);
      if (retentionDays === null) {
        say('No retention requested (--retention-days): data is kept until deleted.');
      } else if (api.ilm) {
        say(`ILM is available: indices are deleted ${retentionDays} days after rollover by the ILM policy.`);
      } else {
        say(
          `This cluster has no ILM: applying retention now by deleting indices older than ${retentionDays} days (run this command daily).`,
        );
        const deleted = await applyRetention(client, prefix, retentionDays);
        say(deleted.length === 0 ? 'Nothing old enough to delete.' : `Deleted ${deleted.join(', ')}.`);
      }
      return 0;
    } catch (err) {
      throw err instanceof SentinelError ? err : describeEsError(err, url, 'setting up');
    } finally {
      await client.close();
    }
  },
};

export default setupCommand;
