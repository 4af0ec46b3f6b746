/**
 * Hostile input between parse and detect (issue #15 items 3 and 4): lines a workload could write to
 * move event time, lines from a container that is not the proxy, and lines that throw.
 */
import { describe, expect, it } from 'vitest';
import { LineDecoder } from '../../src/parse/decoder.js';
import type { DecodeSink } from '../../src/parse/decoder-types.js';
import { jsonStringEndLoop } from '../../src/parse/envelope/fluent-bit-scan.js';
import type { AccessRecord, ShipperMeta } from '../../src/parse/types.js';
import { CollectingSink } from './collecting-sink.js';

/** An Istio 1.9+ TEXT line (the shape of test/fixtures/envelopes/fluent-bit.json). */
function textLine(start: string, authority = 'edition.cnn.com'): string {
  return `[${start}] "GET /politics HTTP/1.1" 301 - via_upstream - "-" 0 0 2 2 "172.30.239.55" "curl/7.87.0-DEV" "6c01d65f-a157-97cd-8782-320a40026901" "${authority}" "151.101.195.5:80" PassthroughCluster 172.30.239.16:55636 151.101.195.5:80 172.30.239.55:59224 - -`;
}

/** A Fluent Bit tail + kubernetes record of `line`, shipped at `time` from `container`. */
function fluentBit(line: string, time: string, container = 'istio-proxy'): string {
  return JSON.stringify({
    time,
    stream: 'stdout',
    logtag: 'F',
    log: `${line}\n`,
    kubernetes: {
      pod_name: 'sleep-7f9c8d6b5-x2k9q',
      namespace_name: 'default',
      labels: { app: 'sleep' },
      host: 'node-1',
      pod_ip: '172.30.239.55',
      container_name: container,
    },
  });
}

const NOW = Date.parse('2024-01-09T16:00:00Z');

function decode(raws: string[], decoder = new LineDecoder({ guard: { clock: () => NOW } })): CollectingSink {
  const sink = new CollectingSink();
  for (const raw of raws) decoder.decode(raw, sink);
  return sink;
}

describe('future-dated lines (event time that cannot be pushed)', () => {
  it("dead-letters a line dated 2099 in a record the shipper stamped in 2024, with the shipper's time as the reason", () => {
    const ok = fluentBit(textLine('2024-01-09T15:35:47.283Z'), '2024-01-09T15:35:47.290Z');
    const future = fluentBit(textLine('2099-01-01T00:00:00.000Z'), '2024-01-09T15:35:48.000Z');
    const s = decode([ok, future, ok]);
    expect(s.records).toHaveLength(2);
    expect(s.bad).toHaveLength(1);
    expect(s.bad[0]?.reason).toMatch(
      /START_TIME 2099-01-01T00:00:00.000Z is \d+ days ahead of the shipper's timestamp 2024-01-09T15:35:48.000Z/,
    );
    expect(s.bad[0]?.raw).toBe(future);
  });

  it('dead-letters a line only minutes ahead of its shipper timestamp, even after the wall clock was read', () => {
    // The wall clock (NOW) is later than the line, so only the shipper's clock catches it.
    const s = decode([
      textLine('2024-01-09T15:59:00.000Z'),
      fluentBit(textLine('2024-01-09T15:50:00.000Z'), '2024-01-09T15:35:48.000Z'),
    ]);
    expect(s.records).toHaveLength(1);
    expect(s.bad[0]?.reason).toMatch(/14 min ahead of the shipper's timestamp/);
  });

  it('dead-letters a bare line ahead of the wall clock, and keeps lines within the allowed skew', () => {
    const s = decode([
      textLine('2099-01-01T00:00:00.000Z'),
      textLine('2024-01-09T16:04:00.000Z'), // 4 min ahead: clock skew, kept
      textLine('2024-01-09T16:06:00.000Z'), // 6 min ahead
    ]);
    expect(s.records.map((r) => new Date(r.record.startTime).toISOString())).toEqual([
      '2024-01-09T16:04:00.000Z',
    ]);
    expect(s.bad.map((b) => b.reason)).toEqual([
      expect.stringMatching(/ahead of the wall clock 2024-01-09T16:00:00.000Z/),
      expect.stringMatching(/6 min ahead of the wall clock/),
    ]);
  });

  it('follows the configured skew', () => {
    const d = new LineDecoder({ guard: { clock: () => NOW, maxClockSkewMs: 3_600_000 } });
    expect(decode([textLine('2024-01-09T16:50:00.000Z')], d).records).toHaveLength(1);
  });
});

describe('shipper metadata: only the proxy container writes access lines', () => {
  it('dead-letters an access line that an app container printed to its own stdout', () => {
    const line = fluentBit(textLine('2024-01-09T15:35:47.283Z'), '2024-01-09T15:35:47.290Z', 'app');
    const s = decode([line]);
    expect(s.records).toHaveLength(0);
    expect(s.bad[0]?.reason).toBe(
      'access line from container "app" of pod default/sleep-7f9c8d6b5-x2k9q: only istio-proxy write access logs (parse.accessLogContainers)',
    );
    // The slow path (no scanner) reads the same metadata and decides the same.
    expect(decode([line], new LineDecoder({ fastEnvelopes: false })).bad[0]?.reason).toBe(s.bad[0]?.reason);
  });

  it('accepts the configured containers, and any with the check off', () => {
    const line = fluentBit(textLine('2024-01-09T15:35:47.283Z'), '2024-01-09T15:35:47.290Z', 'envoy');
    expect(
      decode([line], new LineDecoder({ guard: { accessLogContainers: ['envoy'] } })).records,
    ).toHaveLength(1);
    expect(decode([line], new LineDecoder({ guard: { accessLogContainers: [] } })).records).toHaveLength(1);
    expect(decode([line]).records).toHaveLength(0);
  });
});

describe('no poison pill', () => {
  // 1,000,000 `\u00e9` escapes overflowed the scanner's JSON-string regex (RangeError) and the
  // replay stopped there.
  const huge = '\\u00e9'.repeat(1_000_000);
  const poison = fluentBit(textLine('2024-01-09T15:35:47.283Z', 'HOST'), '2024-01-09T15:35:47.290Z').replace(
    'HOST',
    huge,
  );

  it('reads a Fluent Bit record whose log holds a million \\u00e9 escapes instead of throwing', () => {
    const s = decode([poison]);
    expect(s.bad).toEqual([]);
    expect(s.records[0]?.record.authority).toBe('\u00e9'.repeat(1_000_000));
  });

  it('validates JSON strings as JSON.parse does without the regex', () => {
    for (const text of ['"a"', '"\\u00e9\\n\\"x"', `"${huge}"`, '"\\x"', '"\\u00g9"', '"a\u0001"', '"open']) {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      expect(jsonStringEndLoop(text, 0), text.slice(0, 20)).toBe(valid ? text.length : -1);
    }
  });

  it('dead-letters a line whose processing throws, with its bytes, and goes on with the next', () => {
    const lines = [
      textLine('2024-01-09T15:35:47.283Z'),
      textLine('2024-01-09T15:35:48.283Z', 'boom.example'),
    ];
    const seen: string[] = [];
    const bad: { reason: string; raw: string }[] = [];
    const sink: DecodeSink = {
      access(record: AccessRecord, _meta: ShipperMeta) {
        if (record.authority === 'boom.example') throw new RangeError('Maximum call stack size exceeded');
        seen.push(record.authority ?? '');
      },
      skipped() {},
      malformed(reason, raw) {
        bad.push({ reason, raw });
      },
    };
    const d = new LineDecoder({ guard: { clock: () => NOW } });
    for (const l of [...lines, lines[0] as string]) d.decode(l, sink);
    expect(seen).toEqual(['edition.cnn.com', 'edition.cnn.com']);
    expect(bad).toEqual([
      { reason: 'line could not be processed (RangeError: Maximum call stack size exceeded)', raw: lines[1] },
    ]);
  });
});

describe('Vector flat labels (item 8)', () => {
  it('keeps a label named __proto__ a label: it made the line a gateway line', () => {
    const flat = JSON.stringify({
      message: textLine('2024-01-09T15:35:47.283Z'),
      timestamp: '2024-01-09T15:35:47.290Z',
      'kubernetes.pod_name': 'sleep-7f9c8d6b5-x2k9q',
      'kubernetes.pod_namespace': 'default',
      'kubernetes.container_name': 'istio-proxy',
      'kubernetes.pod_labels.app': 'sleep',
    });
    // JSON.parse makes `__proto__` an own key of the record, as Vector's output does.
    const raw = `${flat.slice(0, -1)},"kubernetes.pod_labels.__proto__":{"istio":"egressgateway","gateway.networking.k8s.io/gateway-name":"gw"}}`;
    const s = decode([raw]);
    expect(s.bad).toEqual([]);
    expect(s.records[0]?.meta).toMatchObject({ workload: 'sleep', istioLabel: null, gatewayName: null });
  });
});
