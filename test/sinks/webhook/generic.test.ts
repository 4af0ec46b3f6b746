import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  genericRequest,
  SIGNATURE_HEADER,
  sign,
  TIMESTAMP_HEADER,
  verifySignature,
} from '../../../src/sinks/webhook/generic.js';
import { makeAlert } from '../helpers.js';

describe('generic webhook', () => {
  it('signs HMAC-SHA256 over the timestamp, a dot and the body', () => {
    const expected = createHmac('sha256', 's3cret').update('1700000000.{"a":1}').digest('hex');
    expect(sign('s3cret', '1700000000', '{"a":1}')).toBe(`sha256=${expected}`);
  });

  it('sends the alert as the body with a timestamp and a signature a receiver can verify', () => {
    const alert = makeAlert();
    const req = genericRequest('http://127.0.0.1/x', alert, 'topsecret', () => 1_700_000_123_456);
    const h = req.headers();
    expect(JSON.parse(req.body)).toEqual(alert);
    expect(h[TIMESTAMP_HEADER]).toBe('1700000123');
    expect(
      verifySignature(
        'topsecret',
        h[TIMESTAMP_HEADER] as string,
        req.body,
        h[SIGNATURE_HEADER] as string,
        300,
        1_700_000_200,
      ),
    ).toBe(true);
  });

  it('rejects a signature made with another secret, a changed body, or an old timestamp', () => {
    const req = genericRequest('http://127.0.0.1/x', makeAlert(), 'topsecret', () => 1_700_000_000_000);
    const h = req.headers();
    const ts = h[TIMESTAMP_HEADER] as string;
    const sig = h[SIGNATURE_HEADER] as string;
    expect(verifySignature('other', ts, req.body, sig, 300, 1_700_000_000)).toBe(false);
    expect(verifySignature('topsecret', ts, `${req.body} `, sig, 300, 1_700_000_000)).toBe(false);
    expect(verifySignature('topsecret', ts, req.body, sig, 300, 1_700_000_000 + 301)).toBe(false);
  });

  it('sends no signature headers when no secret is configured', () => {
    const h = genericRequest('http://127.0.0.1/x', makeAlert(), null).headers();
    expect(h[SIGNATURE_HEADER]).toBeUndefined();
    expect(h['X-Egress-Sentinel-Alert-Id']).toBe('a1b2c3');
  });
});
