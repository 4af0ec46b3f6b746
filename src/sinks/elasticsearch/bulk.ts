/**
 * Bulk writes with per-document outcomes. Each item of a bulk response is handled on its own:
 * 2xx is done; 409 on `create` (data streams only allow create) means the document with that
 * deterministic id is already there, which is success for a redelivery; 429, 5xx and whole-request
 * failures (connection refused, timeout) are retried with backoff; anything else (a mapping
 * conflict, a malformed document) will never succeed and is dead-lettered with the reason. After
 * the last attempt the remaining transient failures make `bulkWrite` throw, so the pipeline pauses
 * and retries the batch rather than losing it.
 */
import type { Client, estypes } from '@elastic/elasticsearch';
import { SentinelError } from '../../errors.js';
import { backoffDelay, type RetryConfig, sleep } from '../backoff.js';

export interface BulkDoc {
  readonly index: string;
  readonly id: string;
  /** `create` for data streams, `index` (overwrite) for alias-backed indices. */
  readonly op: 'create' | 'index';
  readonly doc: object;
}

export interface Rejected {
  readonly doc: BulkDoc;
  readonly status: number;
  readonly reason: string;
}

export interface BulkOutcome {
  written: number;
  /** Already present (409 on create). */
  existing: number;
  rejected: Rejected[];
  /** Bulk requests sent, including retries. */
  requests: number;
}

export function isTransientStatus(status: number): boolean {
  return status === 429 || status >= 500 || status === 408;
}

function describeItemError(item: estypes.BulkResponseItem): string {
  const e = item.error;
  if (e === undefined) return `status ${item.status}`;
  const cause = e.caused_by?.reason ? ` (${e.caused_by.reason})` : '';
  return `${item.status} ${e.type}: ${e.reason ?? ''}${cause}`;
}

/** Whole-request failures worth retrying: no response, a timeout, 429 or 5xx. */
export function isTransientRequestError(err: unknown): boolean {
  const e = err as { name?: string; meta?: { statusCode?: number | null } };
  const status = e?.meta?.statusCode;
  if (typeof status === 'number' && status > 0) return isTransientStatus(status);
  return (
    ['ConnectionError', 'TimeoutError', 'NoLivingConnectionsError', 'RequestAbortedError'].includes(
      e?.name ?? '',
    ) || status == null
  );
}

export async function bulkWrite(
  client: Client,
  docs: readonly BulkDoc[],
  retry: RetryConfig,
  signal: AbortSignal,
  where: string,
  onRetry?: (attempt: number, pending: number, reason: string) => void,
): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { written: 0, existing: 0, rejected: [], requests: 0 };
  let pending = docs;
  for (let attempt = 1; pending.length > 0; attempt++) {
    const retryNext: BulkDoc[] = [];
    let lastReason = '';
    try {
      const operations: unknown[] = [];
      for (const d of pending) {
        operations.push({ [d.op]: { _index: d.index, _id: d.id } }, d.doc);
      }
      outcome.requests++;
      const resp = await client.bulk({ operations }, { signal });
      resp.items.forEach((entry, i) => {
        const doc = pending[i] as BulkDoc;
        const item = (entry.create ?? entry.index) as estypes.BulkResponseItem;
        if (item.status >= 200 && item.status < 300) outcome.written++;
        else if (item.status === 409 && doc.op === 'create') outcome.existing++;
        else if (isTransientStatus(item.status)) {
          retryNext.push(doc);
          lastReason = describeItemError(item);
        } else outcome.rejected.push({ doc, status: item.status, reason: describeItemError(item) });
      });
    } catch (err) {
      if (!isTransientRequestError(err)) {
        throw new SentinelError(
          'ESN_SINK',
          `Elasticsearch ${where} refused the bulk request: ${(err as Error).message}`,
          {
            cause: err,
            where,
          },
        );
      }
      retryNext.push(...pending);
      lastReason = (err as Error).message;
    }
    pending = retryNext;
    if (pending.length === 0) break;
    if (attempt >= retry.maxAttempts || signal.aborted) {
      throw new SentinelError(
        'ESN_SERVER_UNREACHABLE',
        `Elasticsearch ${where}: ${pending.length} document(s) still failing after ${attempt} attempt(s): ${lastReason}`,
        { where },
      );
    }
    onRetry?.(attempt, pending.length, lastReason);
    await sleep(backoffDelay(attempt, retry), signal);
  }
  return outcome;
}
