/**
 * CONTRIBUTING.md says a new detector, sink or parser is one file plus one registry line. This test
 * does exactly that on a copy of src: it adds the three example modules of
 * test/fixtures/components/src (a cleartext-egress detector, a tsv sink, a compact-format parser),
 * one import and one entry in each registry and nothing else, compiles the copy with the project's
 * tsconfig, and runs `egress-sentinel run` on a file of compact lines into a tsv sink: the new
 * detector's alerts come out, configured and named from its spec, and the docs tables list it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'contributing-'));

/** Adds `importLine` after the registry's imports and `entry` before the end of its list `listStart`. */
function register(file: string, importLine: string, listStart: string, entry: string): string[] {
  const path = join(tmp, 'src', file);
  const before = readFileSync(path, 'utf8').split('\n');
  const lines = [...before];
  const lastImport = lines.findLastIndex((l) => l.startsWith('import '));
  lines.splice(lastImport + 1, 0, importLine);
  const start = lines.findIndex((l) => l.startsWith(listStart));
  const end = lines.findIndex((l, i) => i > start && /^[\]}]/.test(l));
  lines.splice(end, 0, entry);
  writeFileSync(path, lines.join('\n'));
  return lines.filter((l) => !before.includes(l));
}

const added: string[] = [];
const cli = (args: string[]) =>
  execFileSync(process.execPath, [join(tmp, 'dist/src/cli/main.js'), ...args], {
    cwd: tmp,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

beforeAll(() => {
  cpSync(join(ROOT, 'src'), join(tmp, 'src'), { recursive: true });
  cpSync(join(ROOT, 'test/fixtures/components/src'), join(tmp, 'src'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(tmp, 'node_modules'));
  writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: 'egress-sentinel', type: 'module' }));
  writeFileSync(
    join(tmp, 'tsconfig.json'),
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: { rootDir: '.', outDir: 'dist', noEmit: false, sourceMap: false },
      include: ['src'],
      exclude: [],
    }),
  );
  added.push(
    ...register(
      'detect/registry.ts',
      "import { cleartextEgressSpec } from './detectors/cleartext-egress.js';",
      'export const DETECTORS',
      "  'cleartext-egress': cleartextEgressSpec,",
    ),
    ...register(
      'sinks/registry.ts',
      "import { tsvSinkSpec } from './tsv.js';",
      'export const SINKS',
      '  tsvSinkSpec,',
    ),
    ...register(
      'parse/registry.ts',
      "import { compactParserSpec } from './compact.js';",
      'export const PARSERS',
      '  compactParserSpec,',
    ),
  );
  // Type-checks and emits the copy: nothing but the new files and these lines was needed.
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tmp], {
    encoding: 'utf8',
  });
}, 300_000);

describe('adding a detector, a sink and a parser (CONTRIBUTING.md)', () => {
  it('takes one import and one entry per registry', () => {
    expect(added).toHaveLength(6);
  });

  it('runs them: compact lines in, cleartext-egress alerts named by its spec out through the tsv sink', () => {
    const lines = [
      // HTTP to an external host (alerts), the same again (a repeat), an ignored host, and HTTPS-like TCP.
      'ec1 2025-03-03T10:00:00.000Z 10.244.0.16:51234 PassthroughCluster 93.184.216.34:80 example.com POST /upload 200 5120 230',
      'ec1 2025-03-03T10:00:05.000Z 10.244.0.16:51236 PassthroughCluster 93.184.216.34:80 example.com POST /upload 200 5120 230',
      'ec1 2025-03-03T10:00:07.000Z 10.244.0.16:51238 PassthroughCluster 151.101.2.132:80 mirror.example.org GET /repo 200 0 9000',
      'ec1 2025-03-03T10:00:09.000Z 10.244.0.16:51240',
    ];
    const input = join(tmp, 'egress.log');
    writeFileSync(input, `${lines.join('\n')}\n`);
    const out = join(tmp, 'alerts.tsv');
    const config = join(tmp, 'pipeline.yaml');
    writeFileSync(
      config,
      [
        'name: contributing',
        'sources: [{ type: file, path: egress.log }]',
        'sinks: [{ type: tsv, path: alerts.tsv }]',
        'flows: { enabled: false }',
        'metrics: { enabled: false }',
        `delivery: { deadLetterFile: ${join(tmp, 'dead-letters.jsonl')} }`,
        'detection:',
        '  learningPeriod: 0s',
        '  detectors:',
        '    gateway-bypass: { enabled: false }',
        '    cleartext-egress: { ignoreHosts: [mirror.example.org] }',
      ].join('\n'),
    );
    cli(['run', '--config', config]);
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    const cleartext = rows.filter((r) => r[2] === 'cleartext-egress');
    // One alert for example.com (re-emitted with its repeat count at the end), none for the ignored host.
    expect(new Set(cleartext.map((r) => `${r[1]} ${r[3]} ${r[5]}`))).toEqual(
      new Set(['medium firing example.com']),
    );
    expect(cleartext[0]?.[6]).toContain('sent HTTP without TLS to example.com');
    // The truncated line is dead-lettered by the new parser, with its reason.
    expect(readFileSync(join(tmp, 'dead-letters.jsonl'), 'utf8')).toContain(
      'compact line: 3 fields, expected 11',
    );
  });

  it('configures them from their specs: an unknown setting of the new detector is an error naming it', () => {
    const config = join(tmp, 'bad.yaml');
    writeFileSync(config, 'detection:\n  detectors:\n    cleartext-egress: { ignoreHost: [x] }\n');
    let stderr = '';
    try {
      cli(['check', '--config', config, '--offline']);
    } catch (err) {
      stderr = String((err as { stderr?: string }).stderr);
    }
    expect(stderr).toContain('detection.detectors.cleartext-egress');
    expect(stderr).toContain('ignoreHost');
  });

  it('documents them: the rules table lists the new rule', async () => {
    const { rulesTable } = (await import(join(tmp, 'dist/src/detect/reference.js'))) as {
      rulesTable: () => string;
    };
    expect(rulesTable()).toMatch(
      /\| cleartext-egress \| Cleartext egress \| medium \| 24h \| `detectors\.cleartext-egress` \|/,
    );
  });
});
