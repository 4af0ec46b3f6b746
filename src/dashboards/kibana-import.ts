/**
 * Imports saved objects through Kibana's API: `POST /api/saved_objects/_import?overwrite=true`
 * (multipart, `kbn-xsrf` header). Kibana answers 200 even when some objects fail, listing them in
 * `errors`; that is an error here, naming each object and why. An unreachable Kibana, a refused
 * login or a non-Kibana server each get their own clear message.
 */
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
  const base = o.url.replace(/\/+$/, '');
  const endpoint = `${base}${o.space ? `/s/${encodeURIComponent(o.space)}` : ''}/api/saved_objects/_import?overwrite=true`;
  const form = new FormData();
  form.append('file', new Blob([o.ndjson], { type: 'application/ndjson' }), 'egress-sentinel.ndjson');
  const headers: Record<string, string> = { 'kbn-xsrf': 'egress-sentinel' };
  if (o.authorization) headers.authorization = o.authorization;
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
    const cause = inner?.code ?? inner?.message ?? (err as Error).message;
    throw new SentinelError(
      'ESN_SERVER_UNREACHABLE',
      `Cannot reach Kibana at ${base} (${cause}). Is it running, and is --url right?`,
      { where: base, cause: err },
    );
  }
  const text = await response.text();
  if (response.status === 401 || response.status === 403) {
    throw new SentinelError(
      'ESN_AUTH',
      `Kibana at ${base} refused the import (HTTP ${response.status}); give credentials with --api-key or --user/--password-env.`,
      { where: base },
    );
  }
  let body: ImportResponse;
  try {
    body = JSON.parse(text) as ImportResponse;
  } catch {
    throw new SentinelError(
      'ESN_SERVER_API_MISSING',
      `${base} answered HTTP ${response.status} with something that is not Kibana's JSON: ${text.slice(0, 200)}`,
      { where: endpoint },
    );
  }
  if (!response.ok) {
    throw new SentinelError(
      'ESN_SERVER_API_MISSING',
      `Kibana at ${base} rejected the import (HTTP ${response.status}): ${text.slice(0, 300)}`,
      { where: endpoint },
    );
  }
  const errors = body.errors ?? [];
  if (body.success === false || errors.length > 0) {
    const lines = errors.map(
      (e) =>
        `${e.type ?? '?'} "${e.meta?.title ?? e.title ?? e.id ?? '?'}" (${e.id ?? '?'}): ${e.error?.type ?? 'error'}${e.error?.message || e.error?.reason ? ` ${e.error.message ?? e.error.reason}` : ''}`,
    );
    throw new SentinelError(
      'ESN_SINK',
      `Kibana at ${base} rejected ${errors.length} of the saved objects:\n${lines.map((l) => `  - ${l}`).join('\n')}`,
      { where: endpoint },
    );
  }
  return { successCount: body.successCount ?? 0 };
}
