/**
 * `egress-sentinel setup kibana [--url URL] [--prefix P] [--space S] [--api-key-env VAR | --user U --password-env VAR] [--print]`:
 * imports the data views and the "Egress overview" dashboard (dashboards/egress-overview.ndjson is
 * the same objects for the default prefix). Reached through `setup kibana`.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_KIBANA_URL } from '../config/defaults.js';
import { redactUrl } from '../config/redact.js';
import { importSavedObjects } from '../dashboards/kibana-import.js';
import { savedObjects, toNdjson } from '../dashboards/saved-objects.js';
import { SentinelError } from '../errors.js';

const HELP = `Usage: egress-sentinel setup kibana [options]

Imports the egress-sentinel data views and the "Egress overview" dashboard into Kibana 8.8+ or 9
(overwriting earlier versions of the same objects).

Options:
  --url URL              Kibana URL (default: $KIBANA_URL or ${DEFAULT_KIBANA_URL})
  --prefix P             Index prefix the pipeline writes with (default egress-sentinel)
  --space S              Kibana space (default: the default space)
  --api-key-env VAR      Read an API key (base64 id:key) from this environment variable
  --user U --password-env VAR   Basic auth, the password from this environment variable
  --print                Print the NDJSON instead of importing it
`;

function secret(env: string | undefined, flag: string): string | undefined {
  if (env === undefined) return undefined;
  const value = process.env[env];
  if (!value)
    throw new SentinelError('ESN_CONFIG', `${flag} ${env}: the environment variable is not set.`, {
      where: flag,
    });
  return value;
}

export async function setupKibana(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      url: { type: 'string' },
      prefix: { type: 'string' },
      space: { type: 'string' },
      'api-key-env': { type: 'string' },
      user: { type: 'string' },
      'password-env': { type: 'string' },
      print: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const ndjson = toNdjson(savedObjects(values.prefix ?? 'egress-sentinel'));
  if (values.print) {
    process.stdout.write(ndjson);
    return 0;
  }
  const url = values.url ?? process.env.KIBANA_URL ?? DEFAULT_KIBANA_URL;
  const apiKey = secret(values['api-key-env'], '--api-key-env');
  const password = secret(values['password-env'], '--password-env');
  const authorization = apiKey
    ? `ApiKey ${apiKey}`
    : values.user !== undefined
      ? `Basic ${Buffer.from(`${values.user}:${password ?? ''}`).toString('base64')}`
      : undefined;
  const result = await importSavedObjects({
    url,
    ndjson,
    ...(authorization ? { authorization } : {}),
    ...(values.space ? { space: values.space } : {}),
  });
  process.stderr.write(
    `setup kibana: imported ${result.successCount} saved objects into ${redactUrl(url, { keepPath: true })}; open the "Egress overview" dashboard.\n`,
  );
  return 0;
}
