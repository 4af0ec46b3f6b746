/**
 * Imports saved objects through Kibana's API: `POST /api/saved_objects/_import?overwrite=true`
 * (multipart, `kbn-xsrf` header). Kibana answers 200 even when some objects fail, listing them in
 * `errors`; that is an error here, naming each object and why. An unreachable Kibana, a refused
 * login or a non-Kibana server each get their own clear message.
 */
import { redactUrl, scrubRemoteText } from '../config/redact.js';
import { SentinelError } from '../errors.js';

export interface KibanaImportOptions {
  url: string;
  ndjson: string;
  /** `Authorization` header value (ApiKey ... or Basic ...), if any. */
  authorization?: string;
  /** Kibana space id; the default space when absent. */
  space?: string;
  timeoutMs?: number;
}

export interface ImportResult {
  successCount: number;
}

interface ImportResponse {
  success?: boolean;
  successCount?: number;
  errors?: {
    id?: string;
    type?: string;
    title?: string;
    meta?: { title?: string };
    error?: { type?: string; message?: string; reason?: string };
  }[];
}

export async function importSavedObjects(o: KibanaImportOptions): Promise<ImportResult> {
  // Credentials in the URL become the Authorization header (fetch refuses them in a URL, and its
  // error would print them); messages show the URL without them (config/redact.ts).
  const target = withoutCredentials(o.url);
  const authorization = o.authorization ?? target.authorization;
  const base = target.url.replace(/\/+$/, '');
  const shown = redactUrl(o.url.replace(/\/+$/, ''), { keepPath: true });
  // What Kibana's replies must not repeat back into a terminal or a CI log.
  const secrets = [...target.secrets, ...(authorization === undefined ? [] : authSecrets(authorization))];
  const endpoint = `${base}${o.space ? `/s/${encodeURIComponent(o.space)}` : ''}/api/saved_objects/_import?overwrite=true`;
  const shownEndpoint = `${shown}${o.space ? `/s/${encodeURIComponent(o.space)}` : ''}/api/saved_objects/_import`;
  const form = new FormData();
  form.append('file', new Blob([o.ndjson], { type: 'application/ndjson' }), 'egress-sentinel.ndjson');
  const headers: Record<string, string> = { 'kbn-xsrf': 'egress-sentinel' };
  if (authorization) headers.authorization = authorization;
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      body: form,
      headers,
      signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
    });
  } catch (err) {
    const inner = (err as { cause?: { code?: string; message?: string } }).cause;
    const cause = scrubRemoteText(inner?.code ?? inner?.message ?? (err as Error).message, secrets);
    throw new SentinelError(
      'ESN_SERVER_UNREACHABLE',
      `Cannot reach Kibana at ${shown} (${cause}). Is it running, and is --url right?`,
      { where: shown },
    );
  }
  const text = await response.text();
  if (response.status === 401 || response.status === 403) {
    throw new SentinelError(
      'ESN_AUTH',
      `Kibana at ${shown} refused the import (HTTP ${response.status}); give credentials with --api-key or --user/--password-env.`,
      { where: shown },
    );
  }
  let body: ImportResponse;
  try {
    body = JSON.parse(text) as ImportResponse;
  } catch {
    throw new SentinelError(
      'ESN_SERVER_API_MISSING',
      `${shown} answered HTTP ${response.status} with something that is not Kibana's JSON: ${scrubRemoteText(text, secrets, 200)}`,
      { where: shownEndpoint },
    );
  }
  if (!response.ok) {
    throw new SentinelError(
      'ESN_SERVER_API_MISSING',
      `Kibana at ${shown} rejected the import (HTTP ${response.status}): ${scrubRemoteText(text, secrets, 300)}`,
      { where: shownEndpoint },
    );
  }
  const errors = body.errors ?? [];
  if (body.success === false || errors.length > 0) {
    const lines = errors.map((e) =>
      scrubRemoteText(
        `${e.type ?? '?'} "${e.meta?.title ?? e.title ?? e.id ?? '?'}" (${e.id ?? '?'}): ${e.error?.type ?? 'error'}${e.error?.message || e.error?.reason ? ` ${e.error.message ?? e.error.reason}` : ''}`,
        secrets,
        300,
        false,
      ),
    );
    throw new SentinelError(
      'ESN_SINK',
      `Kibana at ${shown} rejected ${errors.length} of the saved objects:\n${lines.map((l) => `  - ${l}`).join('\n')}`,
      { where: shownEndpoint },
    );
  }
  return { successCount: body.successCount ?? 0 };
}

/** `url` without user and password; those as a Basic Authorization value, and the strings to scrub. */
function withoutCredentials(url: string): { url: string; authorization?: string; secrets: string[] } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, secrets: [] };
  }
  if (u.username === '' && u.password === '') return { url, secrets: [] };
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  const secrets = [password, u.password, `${user}:${password}`].filter((x) => x !== '');
  return {
    url: u.toString(),
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    secrets: [...secrets, url],
  };
}

/** The parts of an Authorization value a reply could echo: the whole, the token, a Basic password. */
function authSecrets(authorization: string): string[] {
  const space = authorization.indexOf(' ');
  const token = space < 0 ? authorization : authorization.slice(space + 1);
  const out = [authorization, token];
  if (authorization.startsWith('Basic ')) {
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) out.push(decoded, decoded.slice(colon + 1));
  }
  return out;
}
