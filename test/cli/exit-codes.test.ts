/**
 * The CLI as a shell script or CI job meets it: the compiled `egress-sentinel` run as a process,
 * every documented exit code (src/cli/exit.ts, README "Exit codes") produced by the situation it
 * names, usage errors on stderr without a stack trace for every subcommand, and the warnings.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, Severity } from '../../src/alerts/types.js';
import { CLI, cli, ensureBuilt, ROOT } from '../helpers/built-cli.js';

const POLICY = join(ROOT, 'deploy/istio/authorization-policy.yaml');
const SUBCOMMANDS = ['demo', 'replay', 'run', 'check', 'setup', 'simulate', 'report'];
const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];
const STACK = /^\s+at .+:\d+:\d+\)?$/m;

let dir: string;
let traffic: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egress-sentinel-exit-'));
  traffic = join(dir, 'traffic.log');
  // Two hours with every attack: forbidden destinations, bypass, sprays... (the simulator's seed 1).
  const sim = cli(['simulate', '--duration', '2h', '--attack', 'all', '--to', traffic]);
  expect(sim.status, sim.stderr).toBe(0);
}, 240_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('exit codes', { timeout: 30_000 }, () => {
  it('--version prints the package version and exits 0; no command is a usage error (2)', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
      .version;
    const r = cli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`egress-sentinel ${version}\n`);
    const none = cli([]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('Usage: egress-sentinel');
    expect(none.stdout).toBe('');
  });

  it('0 and 1: replay exits 1 exactly when an alert at or above --fail-on was raised', () => {
    const alertsFile = join(dir, 'alerts.jsonl');
    const plain = cli(['replay', '--policy', POLICY, '--alerts', alertsFile, traffic]);
    expect(plain.status, plain.stderr).toBe(0);
    const alerts = readFileSync(alertsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Alert);
    expect(alerts.length).toBeGreaterThan(0);
    const worst = Math.max(...alerts.map((a) => SEVERITIES.indexOf(a.severity)));
    const outcomes = SEVERITIES.map((s, rank) => {
      const r = cli([
        'replay',
        '--policy',
        POLICY,
        '--alerts',
        join(dir, `alerts-${s}.jsonl`),
        '--fail-on',
        s,
        traffic,
      ]);
      expect(r.status, `--fail-on ${s}`).toBe(rank <= worst ? 1 : 0);
      if (r.status === 1) {
        const ids = new Set(
          alerts.filter((a) => SEVERITIES.indexOf(a.severity) >= rank).map((a) => a.alert.id),
        );
        expect(r.stderr).toContain(`replay: ${ids.size} alerts at or above --fail-on ${s}.`);
      }
      return r.status;
    });
    expect(outcomes).toContain(1);
  }, 120_000);

  it.each(SUBCOMMANDS)('2: %s with an unknown option says so on stderr, without a stack trace', (command) => {
    const r = cli([command, '--no-such-option']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("Unknown option '--no-such-option'");
    expect(r.stderr).toContain(`Run "egress-sentinel ${command} --help"`);
    expect(r.stderr).not.toMatch(STACK);
  });

  it.each(SUBCOMMANDS)('0: %s --help prints its usage on stdout', (command) => {
    const r = cli([command, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: egress-sentinel /);
  });

  it('2: a stray argument, a missing --config, a bad value, an invalid config or policy', () => {
    const stray = cli(['check', 'pipelines/embedded.yaml']);
    expect(stray.status).toBe(2);
    expect(stray.stderr).toContain('Did you mean "--config pipelines/embedded.yaml"?');
    for (const args of [['check'], ['run'], ['report'], ['setup', 'kibana', '--print', 'x']]) {
      const r = cli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).not.toMatch(STACK);
    }
    const custom = cli(['replay', '--format', 'custom', traffic]);
    expect(custom.status).toBe(2);
    expect(custom.stderr).toContain('parse.customFormat');
    for (const command of ['simulate', 'demo', 'replay']) {
      const badFormat = cli([command, '--format', 'xml']);
      expect(badFormat.status, command).toBe(2);
      expect(badFormat.stderr).toContain('"xml"');
    }
    const badConfig = join(dir, 'bad.yaml');
    writeFileSync(badConfig, 'name: x\nsinks:\n  - type: stdout\nsink: []\n');
    const config = cli(['check', '--config', badConfig]);
    expect(config.status).toBe(2);
    expect(config.stderr).toContain('Unrecognized key: "sink"');
    const badPolicy = join(dir, 'policy.yaml');
    writeFileSync(badPolicy, readFileSync(POLICY, 'utf8').replace('  rules:', '  rule:'));
    const policy = cli(['replay', '--policy', badPolicy, traffic]);
    expect(policy.status).toBe(2);
    expect(policy.stderr).toContain(badPolicy);
    expect(policy.stderr).not.toMatch(STACK);
  }, 60_000);

  it('3: an input that cannot be read or an output that cannot be written', () => {
    const missing = cli(['replay', join(dir, 'no-such.log')]);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toContain('no-such.log');
    const unwritable = cli([
      'replay',
      '--policy',
      POLICY,
      '--alerts',
      join(dir, 'no-dir', 'alerts.jsonl'),
      traffic,
    ]);
    expect(unwritable.status).toBe(3);
    expect(unwritable.stderr).toContain('Cannot write');
  }, 30_000);

  it.each([
    ['an empty file', ''],
    [
      'an nginx access log',
      '127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /a.gif HTTP/1.1" 200 2326 "-" "curl/8.5.0"\n',
    ],
    ['garbage', `${'\u0000\u00ff{[<'.repeat(200)}\n${'x'.repeat(5000)}\n`],
  ])('4: nothing analysed in %s: a warning and exit 4', (_name, content) => {
    const file = join(dir, 'not-access.log');
    writeFileSync(file, content);
    const r = cli(['replay', '--policy', POLICY, file]);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain(`warning: no access-log line was read from ${file}`);
    expect(r.stdout).toBe('');
  });

  it('4: run too, when its input ended without an access-log line; 0 when it held one', () => {
    const empty = join(dir, 'run-empty.log');
    writeFileSync(
      empty,
      '127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /a.gif HTTP/1.1" 200 2326 "-" "-"\n',
    );
    const config = (input: string) => {
      const file = join(dir, `run-${input.split('/').pop()}.yaml`);
      writeFileSync(
        file,
        [
          `sources: [{ type: file, path: ${JSON.stringify(input)} }]`,
          `sinks: [{ type: file, path: ${JSON.stringify(join(dir, 'run-alerts.jsonl'))} }]`,
          'metrics: { enabled: false }',
          `delivery: { deadLetterFile: ${JSON.stringify(join(dir, 'run-dead.jsonl'))} }`,
          '',
        ].join('\n'),
      );
      return file;
    };
    const nothing = cli(['run', '--config', config(empty)]);
    expect(nothing.status, nothing.stderr).toBe(4);
    expect(nothing.stderr).toContain(`warning: no access-log line was read from file:${empty} (1 lines`);
    const some = cli(['run', '--config', config(traffic)]);
    expect(some.status, some.stderr).toBe(0);
    expect(some.stderr).not.toContain('no access-log line');
  }, 60_000);

  it('5: a server that cannot be reached', () => {
    const r = cli(['setup', 'elasticsearch', '--url', 'http://127.0.0.1:1']);
    expect(r.status).toBe(5);
    expect(r.stderr).toContain('Cannot reach Elasticsearch at http://127.0.0.1:1');
    expect(r.stderr).not.toMatch(STACK);
  });
});

describe('warnings and checks', { timeout: 30_000 }, () => {
  it('replay without a policy warns that forbidden-destination has no allow-list; with one it does not', () => {
    const without = cli(['replay', '--alerts', join(dir, 'a1.jsonl'), traffic]);
    expect(without.status).toBe(0);
    expect(without.stderr).toContain('warning: no policy loaded: forbidden-destination');
    const withPolicy = cli(['replay', '--policy', POLICY, '--alerts', join(dir, 'a2.jsonl'), traffic]);
    expect(withPolicy.stderr).not.toContain('warning:');
  }, 30_000);

  it('check --offline checks production.yaml without its secrets, and warns about `policies: []`', () => {
    const env = { PATH: process.env.PATH };
    const online = cli(['check', '--config', 'pipelines/production.yaml'], { env });
    expect(online.status).toBe(2);
    expect(online.stderr).toContain('EGRESS_SENTINEL_WEBHOOK_SECRET is not set');
    const offline = cli(['check', '--config', 'pipelines/production.yaml', '--offline'], { env });
    expect(offline.status, offline.stderr).toBe(0);
    expect(offline.stdout).toContain('OK (offline: secrets not checked)');
    expect(offline.stderr).toContain('warning: no policy loaded');
    // Offline still finds what is wrong with the shape.
    const broken = join(dir, 'broken.yaml');
    writeFileSync(
      broken,
      readFileSync(join(ROOT, 'pipelines/production.yaml'), 'utf8').replace('groupId:', 'groupID:'),
    );
    expect(cli(['check', '--config', broken, '--offline'], { env }).status).toBe(2);
  }, 30_000);

  it('check names the policies that do not select the egress gateway', () => {
    const config = join(dir, 'with-list.yaml');
    writeFileSync(
      config,
      `sources: [{ type: stdin }]\npolicies: [${join(ROOT, 'test/fixtures/policies/kubectl-get-list.yaml')}]\n`,
    );
    const r = cli(['check', '--config', config]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /warning: .*AuthorizationPolicy app-a\/frontend-ingress is not applied: it is in namespace app-a/,
    );
    expect(r.stderr).not.toContain('no policy loaded');
  });

  it('pipelines/embedded.yaml passes check, from any working directory', () => {
    const r = cli(['check', '--config', join(ROOT, 'pipelines/embedded.yaml')], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('replay --progress reports lines, rate and alerts on stderr while it reads', async () => {
    // Without --policy: the warning it prints on start says the replay is reading.
    const child = spawn(process.execPath, [CLI, 'replay', '--progress', '--alerts', join(dir, 'p.jsonl')], {
      cwd: ROOT,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const lines = readFileSync(traffic, 'utf8');
    const half = lines.indexOf('\n', lines.length / 2) + 1;
    child.stdin.write(lines.slice(0, half));
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (!stderr.includes('warning:')) return;
        clearInterval(poll);
        resolve();
      }, 50);
    });
    // Progress is printed at most every 2 s: keep the input open past that.
    await new Promise((r) => setTimeout(r, 2600));
    child.stdin.end(lines.slice(half));
    const status = await new Promise<number | null>((r) => child.on('close', r));
    expect(status).toBe(0);
    expect(stderr).toMatch(/replay: stdin: [\d,]+ lines, [\d,]+ lines\/s, \d+ alert records\n/);
  }, 30_000);
});
