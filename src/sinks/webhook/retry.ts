/**
 * One HTTP delivery with retries: exponential backoff with jitter (p-retry), a per-endpoint rate
 * limit, and a classification of every outcome. 2xx is delivered; 408, 425, 429, 5xx and network
 * errors are transient and retried; any other status will never succeed and is returned as
 * `rejected` right away. When the retries run out the last transient error is returned as
 * `exhausted`, and the caller decides between dead-lettering and pausing the pipeline.
 */
import pRetry, { AbortError } from 'p-retry';
import { redactUrl as redact, scrubRemoteText } from '../../config/redact.js';
import type { RetryConfig } from '../backoff.js';
import type { TokenBucket } from './rate-limit.js';

export interface HttpRequest {
  readonly url: string;
  readonly body: string;
  /** Called per attempt, so signatures carry a fresh timestamp. */
  readonly headers: () => Record<string, string>;
  /** What must never appear in a logged reply (routing key, signing secret); the URL always is. */
  readonly secrets?: readonly string[];
}

export type DeliveryResult =
  | { readonly outcome: 'delivered'; readonly status: number; readonly attempts: number }
  | { readonly outcome: 'rejected'; readonly reason: string; readonly attempts: number }
  | { readonly outcome: 'exhausted'; readonly reason: string; readonly attempts: number };

export function isTransientHttpStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

class TransientError extends Error {}

export interface DeliveryOptions {
  readonly retry: RetryConfig;
  readonly timeoutMs: number;
  readonly limiter: TokenBucket;
  readonly signal: AbortSignal;
  readonly onRetry?: (attempt: number, reason: string) => void;
}

/**
 * Describes an endpoint without credentials, query string or path past its first segment: a
 * webhook URL's path is often its secret (Slack, Discord, Teams), whatever the host.
 */
export function redactUrl(url: string): string {
  return redact(url);
}

/** The path segments and query values of a URL (each may be the secret part of a webhook URL). */
function urlParts(url: string): string[] {
  try {
    const u = new URL(url);
    return [
      ...u.pathname.split('/').filter((p) => p.length >= 8),
      ...[...u.searchParams.values()].filter((v) => v.length >= 8),
      ...(u.password === '' ? [] : [decodeURIComponent(u.password)]),
    ];
  } catch {
    return [];
  }
}

export async function deliver(req: HttpRequest, o: DeliveryOptions): Promise<DeliveryResult> {
  let attempts = 0;
  const attempt = async (): Promise<number> => {
    await o.limiter.take(o.signal);
    attempts++;
    let res: Response;
    try {
      res = await fetch(req.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...req.headers() },
        body: req.body,
        signal: AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]),
        redirect: 'error',
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new TransientError(`${redactUrl(req.url)}: ${cause ?? (err as Error).message}`);
    }
    // Drain the body so the connection is reused; keep a little of it for the reason, without
    // anything we sent (a receiver may echo the request) or anything that looks like a key.
    const reply = await res.text().catch(() => '');
    if (res.ok) return res.status;
    const text = scrubRemoteText(reply.slice(0, 4096), [
      req.url,
      ...urlParts(req.url),
      ...(req.secrets ?? []),
    ]);
    const reason = `${redactUrl(req.url)} answered ${res.status}${text ? `: ${text}` : ''}`;
    if (isTransientHttpStatus(res.status)) throw new TransientError(reason);
    throw new AbortError(reason);
  };
  try {
    const status = await pRetry(attempt, {
      retries: o.retry.maxAttempts - 1,
      factor: 2,
      minTimeout: o.retry.initialDelayMs,
      maxTimeout: o.retry.maxDelayMs,
      randomize: true,
      signal: o.signal,
      onFailedAttempt: (e) => {
        if (e.retriesLeft > 0) o.onRetry?.(e.attemptNumber, e.message);
      },
    });
    return { outcome: 'delivered', status, attempts };
  } catch (err) {
    if (err instanceof TransientError || o.signal.aborted)
      return { outcome: 'exhausted', reason: (err as Error).message, attempts };
    return { outcome: 'rejected', reason: (err as Error).message, attempts };
  }
}
