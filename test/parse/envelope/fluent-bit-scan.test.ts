import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { jsonLine, textLine } from '../../../bench/parse-lines.js';
import { MeshConfigSchema } from '../../../src/identity/config.js';
import { Normalizer } from '../../../src/identity/normalizer.js';
import { LineDecoder } from '../../../src/parse/decoder.js';
import type { DecodeSink } from '../../../src/parse/decoder-types.js';
import { FluentBitScanner } from '../../../src/parse/envelope/fluent-bit-scan.js';
import { EnvoyJsonParser } from '../../../src/parse/envoy-json.js';
import { EnvoyTextParser } from '../../../src/parse/envoy-text.js';
import { newShipperMeta } from '../../../src/parse/types.js';
import { loadFixtures } from '../../fixtures/load.js';
import { CollectingSink } from '../collecting-sink.js';

const envelopeDir = new URL('../../fixtures/envelopes/', import.meta.url);
const envelopeFixtures = readdirSync(fileURLToPath(envelopeDir)).flatMap((name) =>
  readFileSync(fileURLToPath(new URL(name, envelopeDir)), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => ({ name: `${name}#${i + 1}`, line })),
);
const accessLines = [
  ...loadFixtures('reference-lines.txt').values(),
  ...loadFixtures('synthetic-lines.txt').values(),
  ...loadFixtures('bad-lines.txt').values(),
];

const kubernetes = {
  pod_name: 'sleep-7656cf8794-8kx2v',
  namespace_name: 'default',
  pod_id: '3f1c2a9e-5b6d-4e7f-8a9b-0c1d2e3f4a5b',
  labels: { app: 'sleep', 'pod-template-hash': '7656cf8794', 'service.istio.io/canonical-name': 'sleep' },
  host: 'node-2',
  pod_ip: '10.244.2.3',
  container_name: 'istio-proxy',
  container_image: 'docker.io/istio/proxyv2:1.22.3',
};
const gateway = {
  pod_name: 'istio-egressgateway-5d8f9c7b6-abcde',
  namespace_name: 'istio-system',
  labels: { app: 'istio-egressgateway', istio: 'egressgateway' },
  pod_ip: '10.244.0.9',
  container_name: 'istio-proxy',
};

/** Every access fixture inside the Fluent Bit record shapes seen in the wild (CRI, Docker, `message`, epoch `date`). */
function wrapped(): { name: string; line: string }[] {
  const out: { name: string; line: string }[] = [];
  for (const f of accessLines) {
    const log = `${f.line}\n`;
    out.push(
      {
        name: `${f.id} cri`,
        line: JSON.stringify({
          time: '2024-01-09T15:35:47.29Z',
          stream: 'stdout',
          logtag: 'F',
          log,
          kubernetes,
        }),
      },
      {
        name: `${f.id} docker`,
        line: JSON.stringify({
          log,
          stream: 'stdout',
          time: '2024-01-09T15:35:47.290Z',
          kubernetes: gateway,
        }),
      },
      { name: `${f.id} message`, line: JSON.stringify({ date: 1704814547.29, message: f.line, kubernetes }) },
      {
        name: `${f.id} no newline`,
        line: JSON.stringify({ '@timestamp': '2024-01-09T15:35:47Z', log: f.line, kubernetes }),
      },
      {
        name: `${f.id} pretty`,
        line: JSON.stringify({ time: null, date: 1704814547, log, kubernetes }, null, 1).replace(/\n/g, ' '),
      },
    );
  }
  return out;
}

const ref = accessLines[0]?.line as string;
/** Records the scan must leave to the full parse, or where it must agree on an error. */
const tricky: { name: string; line: string }[] = [
  {
    name: 'kubernetes before log',
    line: JSON.stringify({ kubernetes, log: `${ref}\n`, time: '2024-01-09T15:35:47Z' }),
  },
  {
    name: 'duplicate log key (the last wins)',
    line: `{"log":"x\\n","log":${JSON.stringify(ref)},"kubernetes":${JSON.stringify(kubernetes)}}`,
  },
  {
    name: 'escaped key spelling log',
    line: `{"lo\\u0067":${JSON.stringify(ref)},"kubernetes":${JSON.stringify(kubernetes)}}`,
  },
  {
    name: 'log is an object (Merge_Log)',
    line: JSON.stringify({
      log: { start_time: '2024-01-09T15:35:47.283Z', response_code: '200' },
      kubernetes,
    }),
  },
  { name: 'log is null', line: JSON.stringify({ log: null, kubernetes }) },
  { name: 'log is a number', line: JSON.stringify({ log: 5, kubernetes }) },
  { name: 'no payload', line: JSON.stringify({ stream: 'stdout', kubernetes }) },
  {
    name: 'filebeat-shaped kubernetes',
    line: JSON.stringify({ message: ref, kubernetes: { pod: { name: 'a' }, namespace: 'default' } }),
  },
  {
    name: 'vector-shaped kubernetes',
    line: JSON.stringify({ message: ref, kubernetes: { pod_name: 'a', pod_namespace: 'default' } }),
  },
  {
    name: 'kubernetes without pod or namespace',
    line: JSON.stringify({ log: ref, kubernetes: { host: 'node-1' } }),
  },
  { name: 'kubernetes is a string', line: JSON.stringify({ log: ref, kubernetes: 'default/sleep' }) },
  { name: 'truncated record', line: JSON.stringify({ log: `${ref}\n`, kubernetes }).slice(0, -5) },
  { name: 'trailing bytes', line: `${JSON.stringify({ log: `${ref}\n`, kubernetes })}x` },
  {
    name: 'raw tab inside log',
    line: JSON.stringify({ log: `${ref}\n`, kubernetes }).replace(' \\"GET', '\t\\"GET'),
  },
  {
    name: 'bad escape inside log',
    line: JSON.stringify({ log: `${ref}\n`, kubernetes }).replace('\\"GET', '\\q"GET'),
  },
  {
    name: 'unicode escapes in log',
    line: JSON.stringify({ log: `${ref}\n`, kubernetes }).replace('GET', '\\u0047ET'),
  },
  { name: 'escaped backslash before n', line: JSON.stringify({ log: `${ref}\\n`, kubernetes }) },
  {
    name: 'newline text inside and not at the end',
    line: JSON.stringify({ log: `${ref}\nmore`, stream: 'x\n', kubernetes }),
  },
  { name: 'time is a boolean', line: JSON.stringify({ log: `${ref}\n`, time: true, kubernetes }) },
  {
    name: 'time has an escape',
    line: JSON.stringify({ log: `${ref}\n`, time: '2024-01-09T15:35:47\\Z', kubernetes }),
  },
  {
    name: 'bad number',
    line: `{"log":${JSON.stringify(ref)},"date":01,"kubernetes":${JSON.stringify(kubernetes)}}`,
  },
  { name: 'array value', line: JSON.stringify({ log: `${ref}\n`, tags: ['a', 'b'], kubernetes }) },
  { name: 'otlp key present', line: JSON.stringify({ log: ref, resourceLogs: 1, kubernetes }) },
  {
    name: 'vector flat key present',
    line: JSON.stringify({ log: ref, 'kubernetes.pod_name': 'a', kubernetes }),
  },
  {
    name: 'kubernetes block with a closing brace in a label',
    line: JSON.stringify({ log: `${ref}\n`, kubernetes: { ...kubernetes, labels: { app: 'we}ird"' } } }),
  },
  {
    name: 'proxy log inside',
    line: JSON.stringify({ log: '2020-06-29T23:37:27.285550Z\tinfo\tEnvoy proxy is ready\n', kubernetes }),
  },
  {
    name: 'JSON access line inside log',
    line: JSON.stringify({
      log: `${JSON.stringify({ start_time: '2024-01-09T15:35:47.283Z', response_code: '200', authority: 'x.com' })}\n`,
      kubernetes,
    }),
  },
];

// JSON access lines inside `log`/`message`: the scan only delimits the string and lets its decode validate it.
const jsonAccess = (extra: Record<string, string> = {}) =>
  JSON.stringify({
    start_time: '2024-01-09T15:35:47.283Z',
    response_code: '200',
    bytes_sent: '120',
    authority: 'api.example.com',
    upstream_cluster: 'outbound|443||api.example.com',
    ...extra,
  });
tricky.push(
  {
    name: 'JSON line with an escaped quote in a value',
    line: JSON.stringify({ log: `${jsonAccess({ path: '/say "hi"' })}\n`, kubernetes }),
  },
  {
    name: 'JSON line with backslashes before a quote',
    line: JSON.stringify({ log: `${jsonAccess({ path: '/a\\', user_agent: '\\"x' })}\n`, kubernetes }),
  },
  {
    name: 'JSON line with a raw tab',
    line: JSON.stringify({ log: `${jsonAccess()}\n`, kubernetes }).replace(
      'api.example.com',
      'api\t.example.com',
    ),
  },
  {
    name: 'JSON line with a bad escape',
    line: JSON.stringify({ log: `${jsonAccess()}\n`, kubernetes }).replace(
      'api.example.com',
      'api\\q.example.com',
    ),
  },
  {
    name: 'JSON line without its closing quote',
    line: `{"log":${JSON.stringify(jsonAccess()).slice(0, -1)}}`,
  },
  {
    name: 'JSON line that is not valid JSON inside a valid string',
    line: JSON.stringify({ log: `${jsonAccess().slice(0, -3)}\n`, kubernetes }),
  },
  {
    name: 'JSON line in message',
    line: JSON.stringify({ date: 1704814547.29, message: jsonAccess(), kubernetes }),
  },
  {
    name: 'TEXT in log, JSON in message (unused)',
    line: JSON.stringify({ log: `${ref}\n`, message: jsonAccess(), kubernetes }),
  },
  {
    name: 'TEXT in log, bad JSON string in message (unused)',
    line: JSON.stringify({ log: `${ref}\n`, message: jsonAccess(), kubernetes }).replace(
      'api.example.com',
      'api\\q.example.com',
    ),
  },
  {
    name: 'JSON in log and in message',
    line: JSON.stringify({
      log: jsonAccess({ authority: 'log.example.com' }),
      message: jsonAccess(),
      kubernetes,
    }),
  },
);

// Values that need decoding (read from the escaped line they would be wrong): the decoded path must be taken.
const l1 = accessLines[0]?.line as string;
tricky.push(
  {
    name: 'user agent with a quote',
    line: JSON.stringify({ log: `${l1.replace('curl/7.87.0-DEV', 'say "hi"')}\n`, kubernetes }),
  },
  {
    name: 'forwarded-for with a quote',
    line: JSON.stringify({ log: `${l1.replace('"172.30.239.55"', '"say "hi""')}\n`, kubernetes }),
  },
  {
    name: 'path with a backslash',
    line: JSON.stringify({ log: `${l1.replace('/politics', '/a\\b')}\n`, kubernetes }),
  },
  { name: 'tab in the route name', line: JSON.stringify({ log: `${l1}\tx\n`, kubernetes }) },
  {
    name: 'quote in a skipped field',
    line: JSON.stringify({
      log: `${l1.replace('via_upstream - "-"', 'via_upstream - "a"b"')}\n`,
      kubernetes,
    }),
  },
  {
    name: 'Envoy proxy log in brackets',
    line: JSON.stringify({ log: '[2020-06-29 23:37:27.285][15][info][main] starting\n', kubernetes }),
  },
  {
    name: 'pre-1.1 line',
    line: JSON.stringify({ log: `${accessLines.find((f) => f.tag === 'pre-1.1')?.line}\n`, kubernetes }),
  },
  {
    name: '1.3-1.7 line',
    line: JSON.stringify({ log: `${accessLines.find((f) => f.tag === '1.3-1.7')?.line}\n`, kubernetes }),
  },
);

// Edges of reading the 1.9+ line in place (one regex over the escaped line): each must agree with
// decoding the line and parsing it, whether it reads it or leaves it to that path.
const inPlace: [string, string][] = [
  ['response code details starting with a digit', l1.replace('via_upstream', '5xx_upstream')],
  ['empty response code details', l1.replace(' via_upstream ', '  ')],
  ['closing bracket inside the start time', l1.replace('15:35:47.283Z', '15:35]:47.283Z')],
  ['start time "-"', l1.replace('[2024-01-09T15:35:47.283Z]', '[-]')],
  ['start time that is not a time', l1.replace('2024-01-09T15:35:47.283Z', 'yesterday')],
  ['empty byte count', l1.replace(' 0 0 2 2 ', ' 0  2 2 ')],
  ['byte count "-"', l1.replace(' 0 0 2 2 ', ' - 0 2 2 ')],
  ['byte count that is not a number', l1.replace(' 0 0 2 2 ', ' 0 1e3 2 2 ')],
  ['byte count beyond 2^53', l1.replace(' 0 0 2 2 ', ' 0 123456789012345678901 2 2 ')],
  [
    'pre-1.23 cluster with its ";"',
    l1.replace('outbound|80||edition.cnn.com', 'outbound|80||edition.cnn.com;'),
  ],
  ['cluster that is only ";"', l1.replace('outbound|80||edition.cnn.com', ';')],
  ['space inside the protocol', l1.replace('HTTP/1.1"', 'HTTP/1.1 extra"')],
  ['non-ASCII path', l1.replace('/politics', '/pol\u00edtica/\u{1f600}')],
  ['empty route name', l1.replace(/ default\.forward-cnn-from-egress-gateway\.0$/, ' ')],
  ['one field too many', `${l1} extra`],
  ['one field too few', l1.replace(/ default\.forward-cnn-from-egress-gateway\.0$/, '')],
  ['CRLF line ending', `${l1}\r`],
  ['backslash in a skipped field', l1.replace('via_upstream - "-"', 'via_upstream - "a\\b"')],
];
const l2 = accessLines[1]?.line as string;
tricky.push(
  { name: 'message payload', line: JSON.stringify({ message: `${l1}\n`, kubernetes }) },
  {
    name: 'message before log (log wins)',
    line: JSON.stringify({ message: `${l2}\n`, log: `${l1}\n`, kubernetes }),
  },
  {
    name: 'log before message (log wins)',
    line: JSON.stringify({ log: `${l1}\n`, message: `${l2}\n`, kubernetes }),
  },
  {
    name: 'message before a log that needs decoding',
    line: JSON.stringify({ message: `${l2}\n`, log: `${l1.replace('/politics', '/a\\b')}\n`, kubernetes }),
  },
);
for (const [name, line] of inPlace) {
  tricky.push(
    { name, line: JSON.stringify({ log: `${line}\n`, stream: 'stdout', kubernetes }) },
    { name: `${name} (no newline)`, line: JSON.stringify({ log: line, kubernetes }) },
  );
}

const bench = Array.from({ length: 120 }, (_, i) => [
  { name: `bench text ${i}`, line: textLine(i) },
  { name: `bench json ${i}`, line: jsonLine(i) },
]).flat();

function decodeAll(lines: readonly string[], fast: boolean): CollectingSink[] {
  const decoder = new LineDecoder({ fastEnvelopes: fast });
  return lines.map((l) => {
    const sink = new CollectingSink();
    decoder.decode(l, sink);
    return sink;
  });
}

describe('Fluent Bit fast envelope scan', () => {
  const cases = [...envelopeFixtures, ...wrapped(), ...tricky, ...bench];

  it('gives exactly what the full JSON.parse path gives, on every fixture and tricky record', () => {
    const lines = cases.map((c) => c.line);
    // Twice in a row, so cached pod metadata (second pass) is compared too.
    const fast = decodeAll([...lines, ...lines], true);
    const slow = decodeAll([...lines, ...lines], false);
    for (let i = 0; i < fast.length; i++) {
      const name = cases[i % cases.length]?.name;
      expect({ name, ...fast[i] }).toEqual({ name, ...slow[i] });
    }
    // The comparison is not vacuous: most lines are access lines and several are bad.
    expect(fast.filter((s) => s.records.length > 0).length).toBeGreaterThan(cases.length);
    expect(fast.filter((s) => s.bad.length > 0).length).toBeGreaterThan(10);
  });

  it('takes the fast path for ordinary Fluent Bit records with a non-JSON line', () => {
    const scanner = new FluentBitScanner();
    const jsonIds = new Set(accessLines.filter((f) => f.line.startsWith('{')).map((f) => f.id));
    expect(jsonIds.size).toBeGreaterThan(0);
    const missed = wrapped()
      .filter((c) => !jsonIds.has(c.name.split(' ')[0] as string))
      .filter((c) => scanner.scan(c.line, newShipperMeta()) === null)
      .map((c) => c.name);
    expect(missed).toEqual([]);
    for (let i = 0; i < 200; i++) expect(scanner.scan(textLine(i), newShipperMeta())).not.toBeNull();
  });

  it('reads 1.9+ TEXT lines from their escaped form, without decoding the payload', () => {
    const decodedParse = vi.spyOn(EnvoyTextParser.prototype, 'parse');
    try {
      const sink = new CollectingSink();
      const decoder = new LineDecoder();
      for (let i = 0; i < 50; i++) decoder.decode(textLine(i), sink);
      expect(sink.records).toHaveLength(50);
      expect(decodedParse).not.toHaveBeenCalled();
      decoder.decode(tricky.find((t) => t.name === 'forwarded-for with a quote')?.line as string, sink);
      expect(decodedParse).toHaveBeenCalledTimes(1);
      expect(sink.records[50]?.record.xForwardedFor).toBe('say "hi"');
    } finally {
      decodedParse.mockRestore();
    }
  });

  it('reads the 1.9+ edge lines in place only where that gives the decoded parse', () => {
    const decodedParse = vi.spyOn(EnvoyTextParser.prototype, 'parse');
    try {
      const decoder = new LineDecoder();
      const readInPlace = (name: string): boolean => {
        const line = tricky.find((t) => t.name === name)?.line as string;
        decodedParse.mockClear();
        decoder.decode(line, new CollectingSink());
        return decodedParse.mock.calls.length === 0;
      };
      for (const name of [
        'empty response code details',
        'start time "-"',
        'byte count "-"',
        'byte count beyond 2^53',
        'pre-1.23 cluster with its ";"',
        'cluster that is only ";"',
        'space inside the protocol',
        'non-ASCII path',
        'empty route name',
        'message payload',
        'message before log (log wins)',
      ])
        expect({ name, inPlace: readInPlace(name) }).toEqual({ name, inPlace: true });
      for (const name of [
        'response code details starting with a digit',
        'closing bracket inside the start time',
        'start time that is not a time',
        'empty byte count',
        'byte count that is not a number',
        'one field too many',
        'one field too few',
        'CRLF line ending',
        'backslash in a skipped field',
        'empty byte count (no newline)',
        'message before a log that needs decoding',
      ])
        expect({ name, inPlace: readInPlace(name) }).toEqual({ name, inPlace: false });
    } finally {
      decodedParse.mockRestore();
    }
  });

  it('reads each pod metadata block once, not once per line', () => {
    const scanner = new FluentBitScanner();
    const m = newShipperMeta();
    for (let i = 0; i < 1000; i++) scanner.scan(textLine(i), m);
    // bench/parse-lines.ts interleaves 50 pods.
    expect(scanner.cacheMisses).toBe(50);
    expect(m.namespace).toMatch(/^team-\d$/);
    expect(m.podIp).toMatch(/^10\.244\./);
  });

  it('reads a JSON access line in "log" by decoding just that string, without a full parse of the record', () => {
    const scanner = new FluentBitScanner();
    const c = tricky.find((t) => t.name === 'JSON line with an escaped quote in a value');
    const m = newShipperMeta();
    const payload = scanner.scan(c?.line as string, m);
    expect(JSON.parse(payload as string).path).toBe('/say "hi"');
    expect(m.workload).toBe('sleep');
    for (let i = 0; i < 50; i++) expect(scanner.scan(jsonLine(i), newShipperMeta())).not.toBeNull();
  });

  it('reads JSON lines in place through the decoder, without decoding the payload or parsing the line', () => {
    const decodedParse = vi.spyOn(EnvoyJsonParser.prototype, 'parse');
    try {
      const sink = new CollectingSink();
      const decoder = new LineDecoder();
      for (let i = 0; i < 50; i++) decoder.decode(jsonLine(i), sink);
      expect(sink.records).toHaveLength(50);
      expect(decodedParse).not.toHaveBeenCalled();
      decoder.decode(
        tricky.find((t) => t.name === 'JSON line with an escaped quote in a value')?.line as string,
        sink,
      );
      expect(decodedParse).toHaveBeenCalledTimes(1);
      expect(sink.records[50]?.record.path).toBe('/say "hi"');
    } finally {
      decodedParse.mockRestore();
    }
  });

  it('leaves a JSON payload whose string is not valid JSON to the full parse', () => {
    const scanner = new FluentBitScanner();
    for (const name of [
      'JSON line with a raw tab',
      'JSON line with a bad escape',
      'JSON line without its closing quote',
      'TEXT in log, bad JSON string in message (unused)',
    ]) {
      const c = tricky.find((t) => t.name === name);
      const m = newShipperMeta();
      expect({ name, payload: scanner.scan(c?.line as string, m) }).toEqual({ name, payload: null });
      expect(m).toEqual(newShipperMeta());
    }
  });

  it('leaves records it does not fully understand to the full parse, and leaves the metadata untouched', () => {
    const scanner = new FluentBitScanner();
    const leaves = [
      'duplicate log key (the last wins)',
      'escaped key spelling log',
      'log is an object (Merge_Log)',
      'filebeat-shaped kubernetes',
      'vector-shaped kubernetes',
      'truncated record',
      'trailing bytes',
      'raw tab inside log',
      'bad escape inside log',
      'time has an escape',
      'bad number',
      'array value',
      'otlp key present',
      'vector flat key present',
    ];
    for (const name of leaves) {
      const c = tricky.find((t) => t.name === name);
      const m = newShipperMeta();
      expect({ name, payload: scanner.scan(c?.line as string, m) }).toEqual({ name, payload: null });
      expect(m).toEqual(newShipperMeta());
    }
  });

  it('reads a kubernetes block that is not last in the record by scanning to its end', () => {
    const scanner = new FluentBitScanner();
    const c = tricky.find((t) => t.name === 'kubernetes before log');
    // The guess "kubernetes is last" fails once, then the scan finds the block's end itself.
    const m = newShipperMeta();
    expect(scanner.scan(c?.line as string, m)).toBe(`${ref}\n`);
    expect(m.pod).toBe('sleep-7656cf8794-8kx2v');
    expect(m.workload).toBe('sleep');
  });

  it('uses the record time for a line without START_TIME, resolved lazily and never carried to the next line', () => {
    // Same line with START_TIME "-": the normaliser must fall back to the record's own `time`.
    const noStart = ref.replace(/^\[[^\]]*\]/, '[-]');
    expect(noStart.startsWith('[-] ')).toBe(true);
    const normalizer = new Normalizer(MeshConfigSchema.parse({}));
    const times: number[] = [];
    const sink: DecodeSink = {
      access: (record, meta) => {
        times.push(normalizer.normalize(record, meta, { source: 'test', position: '1' }).time);
      },
      skipped: (reason) => {
        throw new Error(reason);
      },
      malformed: (reason) => {
        throw new Error(reason);
      },
    };
    const lines = [
      JSON.stringify({ log: `${noStart}\n`, time: '2025-03-04T05:06:07.891Z', kubernetes }),
      JSON.stringify({ log: `${noStart}\n`, time: 1741064767.5, kubernetes }),
      JSON.stringify({ log: `${noStart}\n`, time: null, '@timestamp': '2025-03-04T05:06:08Z', kubernetes }),
      JSON.stringify({ log: `${noStart}\n`, kubernetes }),
      JSON.stringify({ log: `${ref}\n`, time: '2025-03-04T05:06:07.891Z', kubernetes }),
    ];
    for (const fast of [true, false]) {
      times.length = 0;
      const decoder = new LineDecoder({ fastEnvelopes: fast });
      for (const l of lines) decoder.decode(l, sink);
      expect({ fast, times }).toEqual({
        fast,
        times: [
          Date.parse('2025-03-04T05:06:07.891Z'),
          1741064767500,
          Date.parse('2025-03-04T05:06:08Z'),
          Number.NaN,
          Date.parse(ref.slice(1, ref.indexOf(']'))),
        ],
      });
    }
  });
});
