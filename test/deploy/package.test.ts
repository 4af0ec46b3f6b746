/**
 * The npm package as a user gets it: `npm pack`, installed from the tarball into an empty folder
 * (its dependencies from the npm registry), then `npx egress-sentinel ...` there, outside the
 * repository: the bundled pipelines pass `check`, and `npx egress-sentinel demo` runs end to end.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../helpers/built-cli.js';

/**
 * npm's own CLI scripts. The npm that runs the tests when there is one; else the first `npm` on PATH
 * that is a real npm install (a bare node distribution may ship npm wrappers without npm beside them).
 */
function npmBin(): { npm: string; npx: string } {
  const candidates = [process.env.npm_execpath];
  const which = spawnSync('which', ['-a', 'npm'], { encoding: 'utf8' });
  candidates.push(...which.stdout.split('\n').filter((l) => l !== ''));
  for (const c of candidates) {
    if (c === undefined || !existsSync(c)) continue;
    const dir = dirname(realpathSync(c));
    if (existsSync(join(dir, 'npm-cli.js')) && existsSync(join(dir, 'npx-cli.js')))
      return { npm: join(dir, 'npm-cli.js'), npx: join(dir, 'npx-cli.js') };
  }
  throw new Error(`no usable npm found (tried ${candidates.join(', ')})`);
}

let work: string;
let app: string;
let npm: { npm: string; npx: string };
const run = (script: string, args: string[], cwd: string, timeout = 300_000) =>
  spawnSync(process.execPath, [script, ...args], {
    cwd,
    encoding: 'utf8',
    timeout,
    env: {
      ...process.env,
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    },
  });
const npx = (args: string[], timeout?: number) =>
  run(npm.npx, ['--no-install', 'egress-sentinel', ...args], app, timeout);

beforeAll(() => {
  ensureBuilt();
  npm = npmBin();
  work = mkdtempSync(join(tmpdir(), 'egress-sentinel-package-'));
  const packed = run(npm.npm, ['pack', '--json', '--pack-destination', work], ROOT);
  expect(packed.status, packed.stderr).toBe(0);
  const tarball = join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0]?.filename as string);
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{ "name": "try-egress-sentinel", "private": true }\n');
  const installed = run(npm.npm, ['install', '--no-package-lock', tarball], app);
  expect(installed.status, installed.stderr).toBe(0);
}, 600_000);
afterAll(() => rmSync(work, { recursive: true, force: true }), 120_000);

describe('the npm package', { timeout: 60_000 }, () => {
  it('ships the compiled CLI, the pipelines, the dashboards and the Istio policy, not the sources or tests', () => {
    const pkg = join(app, 'node_modules/egress-sentinel');
    for (const f of [
      'dist/src/cli/main.js',
      'pipelines/embedded.yaml',
      'pipelines/production.yaml',
      'pipelines/compose.yaml',
      'dashboards/egress-overview.ndjson',
      'deploy/istio/authorization-policy.yaml',
    ])
      expect(existsSync(join(pkg, f)), f).toBe(true);
    for (const f of ['src', 'test', 'bench', 'dist/bench', 'node_modules/vitest'])
      expect(existsSync(join(pkg, f)), f).toBe(false);
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
      .version;
    const r = npx(['--version']);
    expect(r.stdout).toBe(`egress-sentinel ${version}\n`);
  });

  it('its bundled pipelines/embedded.yaml passes check; production.yaml passes offline and warns it has no policy', () => {
    const embedded = npx(['check', '--config', 'node_modules/egress-sentinel/pipelines/embedded.yaml']);
    expect(embedded.status, embedded.stderr).toBe(0);
    expect(embedded.stderr).toBe('');
    const production = npx([
      'check',
      '--offline',
      '--config',
      'node_modules/egress-sentinel/pipelines/production.yaml',
    ]);
    expect(production.status, production.stderr).toBe(0);
    expect(production.stderr).toContain('warning: no policy loaded');
  });

  it('runs `npx egress-sentinel demo` in a folder of its own', () => {
    const r = npx(['demo', '--out', 'out'], 600_000);
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(r.stdout).toMatch(/caught {2}forbidden/);
    for (const f of ['traffic.log', 'alerts.jsonl', 'flows.jsonl', 'report.html'])
      expect(existsSync(join(app, 'out', f)), f).toBe(true);
  }, 600_000);
});
