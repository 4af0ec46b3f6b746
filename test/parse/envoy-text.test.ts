import { describe, expect, it } from 'vitest';
import { EnvoyTextParser } from '../../src/parse/envoy-text.js';
import { newAccessRecord } from '../../src/parse/types.js';
import { loadFixtures } from '../fixtures/load.js';

const real = loadFixtures('reference-lines.txt');
const synthetic = loadFixtures('synthetic-lines.txt');
const bad = loadFixtures('bad-lines.txt');

describe('EnvoyTextParser', () => {
  const parser = new EnvoyTextParser();
  const textFixtures = [...real.values(), ...synthetic.values()].filter((f) => f.line.startsWith('['));

  it.each(textFixtures)('reads fixture $id with the layout its release shipped ($tag)', (f) => {
    const rec = newAccessRecord();
    expect(parser.parse(f.line, rec)).toEqual({ kind: 'access' });
    expect(parser.lastLayout).toBe(f.tag.split(' ')[0]);
    expect(Number.isNaN(rec.startTime)).toBe(false);
  });

  it('reads every field of the 1.9+ egress-gateway line L1', () => {
    const rec = newAccessRecord();
    parser.parse(real.get('L1')?.line ?? '', rec);
    expect(rec).toMatchObject({
      startTime: Date.parse('2024-01-09T15:35:47.283Z'),
      method: 'GET',
      path: '/politics',
      responseCode: 301,
      responseFlags: null,
      responseCodeDetails: 'via_upstream',
      bytesReceived: 0,
      bytesSent: 0,
      durationMs: 2,
      xForwardedFor: '172.30.239.55',
      requestId: '6c01d65f-a157-97cd-8782-320a40026901',
      authority: 'edition.cnn.com',
      upstreamHost: '151.101.195.5:80',
      upstreamCluster: 'outbound|80||edition.cnn.com',
      upstreamLocalAddress: '172.30.239.16:55636',
      downstreamLocalAddress: '172.30.239.16:80',
      downstreamRemoteAddress: '172.30.239.55:59224',
      requestedServerName: null,
      routeName: 'default.forward-cnn-from-egress-gateway.0',
    });
    // Read past, not copied: nothing downstream uses them.
    expect(rec).not.toHaveProperty('protocol');
    expect(rec).not.toHaveProperty('userAgent');
  });

  it('keeps the blocked destination of the BlackHole line, which only DOWNSTREAM_LOCAL_ADDRESS holds', () => {
    const rec = newAccessRecord();
    parser.parse(real.get('L11')?.line ?? '', rec);
    expect(rec.upstreamCluster).toBe('BlackHoleCluster');
    expect(rec.responseFlags).toBe('UH');
    expect(rec.upstreamHost).toBeNull();
    expect(rec.downstreamLocalAddress).toBe('142.251.36.4:443');
    expect(rec.method).toBeNull();
  });

  it('reads the pre-1.1 layout and the SNI in its last column', () => {
    const rec = newAccessRecord();
    parser.parse(real.get('L4')?.line ?? '', rec);
    expect(rec.bytesReceived).toBe(627);
    expect(rec.bytesSent).toBe(1879689);
    expect(rec.requestedServerName).toBe('edition.cnn.com');
  });

  it('strips the trailing ";" of a pre-1.23 %UPSTREAM_CLUSTER%', () => {
    const rec = newAccessRecord();
    parser.parse(synthetic.get('S122')?.line ?? '', rec);
    expect(rec.upstreamCluster).toBe('outbound|443||api.stripe.com');
  });

  it('tells 1.8 from 1.1 and 1.2 from 1.3-1.7 by their field counts', () => {
    const rec = newAccessRecord();
    parser.parse(synthetic.get('S11')?.line ?? '', rec);
    expect(parser.lastLayout).toBe('1.1');
    expect(rec.requestedServerName).toBeNull();
    expect(rec.downstreamLocalAddress).toBe('52.1.2.3:80');
    parser.parse(synthetic.get('S18')?.line ?? '', rec);
    expect(parser.lastLayout).toBe('1.8');
    expect(rec.routeName).toBe('default');
  });

  it('reads microsecond start times', () => {
    const rec = newAccessRecord();
    parser.parse(synthetic.get('S123')?.line ?? '', rec);
    expect(rec.startTime).toBe(Date.parse('2025-01-01T10:00:00.123Z'));
  });

  it.each(
    [...bad.values()].filter((f) => f.line.startsWith('[')),
  )('rejects broken line $id with a precise reason', (f) => {
    const out = parser.parse(f.line, newAccessRecord());
    expect(out.kind).toBe('malformed');
    expect(out.kind === 'malformed' ? out.reason : '').toContain(f.tag);
  });

  it('resets fields a previous line set', () => {
    const rec = newAccessRecord();
    parser.parse(real.get('L1')?.line ?? '', rec);
    parser.parse(real.get('L2')?.line ?? '', rec);
    expect(rec.method).toBeNull();
    expect(rec.authority).toBeNull();
    expect(rec.requestedServerName).toBe('edition.cnn.com');
  });
});

describe('EnvoyTextParser: fields users append', () => {
  it('reads the known fields of a line with ` traceID=...` appended and keeps the rest', () => {
    const parser = new EnvoyTextParser();
    const rec = newAccessRecord();
    const line = `${real.get('L2')?.line} traceID=7654f5f829bed4690de1f31281c4854b traceSampled=1`;
    expect(parser.parse(line, rec)).toEqual({ kind: 'access' });
    expect(parser.lastLayout).toBe('1.9+');
    expect(rec).toMatchObject({
      requestedServerName: 'edition.cnn.com',
      routeName: null,
      upstreamCluster: 'outbound|443||edition.cnn.com',
      trailing: 'traceID=7654f5f829bed4690de1f31281c4854b traceSampled=1',
    });
    // The next line has none: the reused record does not keep them.
    parser.parse(real.get('L2')?.line ?? '', rec);
    expect(rec.trailing).toBeNull();
  });

  it("reads Envoy's default format with a field appended", () => {
    const parser = new EnvoyTextParser();
    const rec = newAccessRecord();
    expect(parser.parse(`${real.get('ENVOY')?.line} "extra"`, rec)).toEqual({ kind: 'access' });
    expect(rec).toMatchObject({ upstreamHost: 'tcp://10.0.2.1:80', trailing: '"extra"' });
  });
});
