/**
 * The generic webhook: the alert as a JSON POST, signed so the receiver can check it came from us
 * and is fresh. Signature: HMAC-SHA256 with the shared secret over `<timestamp>.<body>`, where the
 * timestamp is Unix seconds sent in `X-Egress-Sentinel-Timestamp`; the hex digest is sent as
 * `X-Egress-Sentinel-Signature: sha256=<hex>`. Receivers should reject timestamps older than a few
 * minutes (replay) and compare signatures in constant time (`verifySignature`).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Alert } from '../../alerts/types.js';
import type { HttpRequest } from './retry.js';

export const TIMESTAMP_HEADER = 'X-Egress-Sentinel-Timestamp';
export const SIGNATURE_HEADER = 'X-Egress-Sentinel-Signature';
export const ALERT_ID_HEADER = 'X-Egress-Sentinel-Alert-Id';

export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers and tests: constant-time check of a signature, and of the timestamp's age. */
export function verifySignature(
  secret: string,
  timestamp: string,
  body: string,
  signature: string,
  maxAgeSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  const ts = Number(timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowSeconds - ts) > maxAgeSeconds) return false;
  const expected = Buffer.from(sign(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function genericRequest(
  url: string,
  alert: Alert,
  secret: string | null,
  now: () => number = Date.now,
): HttpRequest {
  const body = JSON.stringify(alert);
  return {
    url,
    body,
    secrets: secret === null ? [] : [secret],
    headers: () => {
      const h: Record<string, string> = {
        [ALERT_ID_HEADER]: alert.alert.id,
        'user-agent': 'egress-sentinel',
      };
      if (secret !== null) {
        const timestamp = String(Math.floor(now() / 1000));
        h[TIMESTAMP_HEADER] = timestamp;
        h[SIGNATURE_HEADER] = sign(secret, timestamp, body);
      }
      return h;
    },
  };
}
