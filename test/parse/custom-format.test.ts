import { describe, expect, it } from 'vitest';
import { SentinelError } from '../../src/errors.js';
import { CompiledTextFormat, CustomFormatParser, compileJsonFormat } from '../../src/parse/custom-format.js';
import { LineDecoder } from '../../src/parse/decoder.js';
import { EnvoyJsonParser } from '../../src/parse/envoy-json.js';
import { F } from '../../src/parse/fields.js';
import { newAccessRecord } from '../../src/parse/types.js';
import { CollectingSink } from './collecting-sink.js';

function parse(format: string, line: string) {
  const rec = newAccessRecord();
  const outcome = new CustomFormatParser(format).parse(line, rec);
  return { outcome, rec };
}

function configError(format: string): SentinelError {
  try {
    new CompiledTextFormat(format);
  } catch (err) {
    expect(err).toBeInstanceOf(SentinelError);
    return err as SentinelError;
  }
  throw new Error(`format compiled: ${format}`);
}

describe('custom %COMMAND% formats', () => {
  it('reads an egress-gateway format that logs the caller principal and SNI (the Telemetry example users write)', () => {
    const format =
      '[%START_TIME%] %DOWNSTREAM_PEER_URI_SAN% -> %REQUESTED_SERVER_NAME% via %UPSTREAM_CLUSTER% sent=%BYTES_SENT% received=%BYTES_RECEIVED% took=%DURATION%ms code=%RESPONSE_CODE%\n';
    const { outcome, rec } = parse(
      format,
      '[2024-01-11T21:09:42.835Z] spiffe://cluster.local/ns/team-a/sa/checkout -> api.stripe.com via outbound|443||api.stripe.com sent=2504306 received=839 took=231ms code=0\n',
    );
    expect(outcome).toEqual({ kind: 'access' });
    expect(rec).toMatchObject({
      startTime: Date.UTC(2024, 0, 11, 21, 9, 42, 835),
      peerPrincipal: 'spiffe://cluster.local/ns/team-a/sa/checkout',
      requestedServerName: 'api.stripe.com',
      upstreamCluster: 'outbound|443||api.stripe.com',
      bytesSent: 2504306,
      bytesReceived: 839,
      durationMs: 231,
      responseCode: 0,
    });
  });

  it('reads START_TIME with a strftime argument that contains spaces and an offset (envoy doc example)', () => {
    const { outcome, rec } = parse(
      '%START_TIME(%Y/%m/%dT%H:%M:%S%z)% %REQ(:AUTHORITY)% %RESPONSE_CODE%',
      '2024/01/09T17:35:47+0200 edition.cnn.com 301',
    );
    expect(outcome).toEqual({ kind: 'access' });
    expect(rec.startTime).toBe(Date.UTC(2024, 0, 9, 15, 35, 47));
    expect(rec.authority).toBe('edition.cnn.com');

    // The doc's `%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)%`: the value itself holds the separator.
    const spaced = parse(
      '%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)% %REQ(:AUTHORITY)% %RESPONSE_CODE%',
      '2024/01/09T15:35:47+0000 1704814547 edition.cnn.com 301',
    );
    expect(spaced.outcome).toEqual({ kind: 'access' });
    expect(spaced.rec.startTime).toBe(Date.UTC(2024, 0, 9, 15, 35, 47));
    expect(spaced.rec.authority).toBe('edition.cnn.com');
    expect(spaced.rec.responseCode).toBe(301);
  });

  it.each([
    ['%s.%3f', '1704814547.283', Date.UTC(2024, 0, 9, 15, 35, 47, 283)],
    ['%s.%6f', '1704814547.283999', Date.UTC(2024, 0, 9, 15, 35, 47, 283)],
    ['%s.%9f', '1704814547.000000001', Date.UTC(2024, 0, 9, 15, 35, 47, 0)],
    ['%s', '1704814547', Date.UTC(2024, 0, 9, 15, 35, 47)],
  ])('reads epoch START_TIME(%s) with its fraction', (pattern, value, expected) => {
    const { outcome, rec } = parse(`%START_TIME(${pattern})% %BYTES_SENT%`, `${value} 55`);
    expect(outcome).toEqual({ kind: 'access' });
    expect(rec.startTime).toBe(expected);
    expect(rec.bytesSent).toBe(55);
  });

  it('reads %REQ(X?Y):N% headers, whose values Envoy truncated to N characters, as logged', () => {
    const { outcome, rec } = parse(
      '"%REQ(X-ENVOY-ORIGINAL-PATH?:PATH):16%" "%REQ(USER-AGENT):10%" %REQ(:AUTHORITY):10% %UPSTREAM_HOST%',
      '"/politics/a-very-l" "curl/7.87." edition.cn 151.101.195.5:443',
    );
    expect(outcome).toEqual({ kind: 'access' });
    expect(rec.path).toBe('/politics/a-very-l');
    expect(rec.authority).toBe('edition.cn');
    // The user agent is read past, not kept: nothing downstream uses it.
    expect(rec).not.toHaveProperty('userAgent');
    expect(rec.upstreamHost).toBe('151.101.195.5:443');
  });

  it('treats "-" as absent, skips unknown commands, and reads %% as a literal percent', () => {
    const { outcome, rec } = parse(
      '%RESPONSE_FLAGS% %GRPC_STATUS(CAMEL_STRING)% %DYNAMIC_METADATA(istio.mixer:status):20% 100%% %REQUESTED_SERVER_NAME%',
      '- OK {"a":"b"} 100% -',
    );
    expect(outcome).toEqual({ kind: 'access' });
    expect(rec.responseFlags).toBeNull();
    expect(rec.requestedServerName).toBeNull();
  });

  it('names the field and the layout when a line does not fit the configured format', () => {
    const { outcome } = parse('%RESPONSE_CODE% sent=%BYTES_SENT% %DURATION%', '200 sent=abc 5');
    expect(outcome.kind).toBe('malformed');
    expect(outcome.kind === 'malformed' && outcome.reason).toMatch(/%BYTES_SENT% is not a number: "abc"/);
    const short = parse('%RESPONSE_CODE% sent=%BYTES_SENT% %DURATION%', '200 received=5');
    expect(short.outcome.kind === 'malformed' && short.outcome.reason).toMatch(/custom format "custom"/);
  });

  it('refuses two adjacent commands with a config error naming both', () => {
    const err = configError('[%START_TIME%] %BYTES_SENT%%DURATION% %RESPONSE_CODE%\n');
    expect(err.code).toBe('ESN_CONFIG');
    expect(err.message).toContain('%BYTES_SENT% and %DURATION% have no text between them');
    expect(err.where).toContain('%BYTES_SENT%%DURATION%');
  });

  it('refuses a format without commands and a strftime conversion it cannot read, at compile time', () => {
    expect(configError('just text\n').message).toMatch(/no %COMMAND% operators/);
    const strf = configError('%START_TIME(%j)% %RESPONSE_CODE%');
    expect(strf.code).toBe('ESN_CONFIG');
    expect(strf.message).toMatch(/unsupported strftime conversion %j/);
  });

  it('is tried first by the decoder when configured, and a bare custom line becomes an access record', () => {
    const decoder = new LineDecoder({
      customFormat: 'egress %REQ(:AUTHORITY)% %RESPONSE_CODE% %BYTES_SENT%',
    });
    const sink = new CollectingSink();
    decoder.decode('egress api.stripe.com 200 1234', sink);
    expect(sink.bad).toEqual([]);
    expect(sink.records[0]?.record).toMatchObject({
      authority: 'api.stripe.com',
      responseCode: 200,
      bytesSent: 1234,
    });
  });
});

describe('custom JSON label maps (json_format / Telemetry labels)', () => {
  const labels = {
    ts: '%START_TIME(%s.%3f)%',
    caller: '%DOWNSTREAM_PEER_URI_SAN%',
    sni: '%REQUESTED_SERVER_NAME%',
    sent: '%BYTES_SENT%',
    status: '%RESPONSE_CODE%',
    note: 'proto=%PROTOCOL%',
    trace: '%REQ(X-B3-TRACEID)%',
  };

  it('keeps only the keys that are one known command', () => {
    const keys = compileJsonFormat(labels);
    expect(keys.map((k) => k.key)).toEqual(['ts', 'caller', 'sni', 'sent', 'status']);
    expect(keys.find((k) => k.key === 'caller')?.field).toBe(F.PEER_URI_SAN);
    expect(keys.find((k) => k.key === 'ts')?.strftime).not.toBeNull();
  });

  it('reads a line written with that map, including the strftime start time', () => {
    const rec = newAccessRecord();
    const out = new EnvoyJsonParser(labels, 'custom-json').parse(
      JSON.stringify({
        ts: '1704814547.283',
        caller: 'spiffe://cluster.local/ns/team-a/sa/checkout',
        sni: 'api.stripe.com',
        sent: '4096',
        status: '200',
        note: 'proto=HTTP/1.1',
        trace: 'abc',
      }),
      rec,
    );
    expect(out).toEqual({ kind: 'access' });
    expect(rec).toMatchObject({
      startTime: Date.UTC(2024, 0, 9, 15, 35, 47, 283),
      peerPrincipal: 'spiffe://cluster.local/ns/team-a/sa/checkout',
      requestedServerName: 'api.stripe.com',
      bytesSent: 4096,
      responseCode: 200,
    });
    expect(rec).not.toHaveProperty('protocol');
  });
});

describe('CompiledTextFormat.readJsonString (a line still inside its JSON string)', () => {
  const format =
    '[%START_TIME(%Y/%m/%d %T)%] "%REQ(:METHOD)% %REQ(:PATH)%" %RESPONSE_CODE% [%REQ(:AUTHORITY)%] %GRPC_STATUS% | %UPSTREAM_CLUSTER% %BYTES_SENT%\n';
  const compiled = new CompiledTextFormat(format);
  const lines = [
    '[2024/01/09 15:35:47] "GET /a-b HTTP" 200 [x.com] OK | outbound|443||x.com 55',
    '[2024/01/09 15:35:47] "- -" 0 [-] - | PassthroughCluster -',
    '[2024/01/09 15:35:47] "GET /a]b" 200 [x.com] OK | outbound|443||x.com 55',
    '[2024/01/09 15:35:47] "GET /a\\b" 200 [x.com] OK | outbound|443||x.com 55',
    '[2024/01/09 15:35:47] "GET /a" 2x0 [x.com] OK | outbound|443||x.com 55',
    '[2024/01/09 15:35:47] "GET /a" 200 [x.com] OK | outbound|443||x.com 55 66',
  ];

  it.each(lines)('reads %s as parse reads the decoded line, or leaves it to parse', (line) => {
    const raw = `{"log":${JSON.stringify(`${line}\n`)}}`;
    const inPlace = newAccessRecord();
    const end = compiled.readJsonString(raw, 7, inPlace);
    const decoded = newAccessRecord();
    const reason = compiled.parse(line, decoded);
    if (end >= 0) {
      expect(end).toBe(raw.length - 1);
      expect(reason).toBeNull();
      expect(inPlace).toEqual(decoded);
    } else expect(line.includes('\\') || reason !== null).toBe(true);
  });

  it('reads the plain lines in place and refuses the ones that need decoding or are bad', () => {
    const read = lines.map(
      (l) => compiled.readJsonString(`{"log":${JSON.stringify(`${l}\n`)}}`, 7, newAccessRecord()) >= 0,
    );
    // `]` inside the path is fine (the path ends at `"`); `55 66` is not a number.
    expect(read).toEqual([true, true, true, false, false, false]);
  });
});
