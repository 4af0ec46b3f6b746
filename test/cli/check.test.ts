import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { checkCommand } from '../../src/cli/check.js';
import { ConfigError } from '../../src/errors.js';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'check-')), 'pipeline.yaml');
  writeFileSync(file, text);
  return file;
}

describe('egress-sentinel check', () => {
  it('lists every problem with its path, including missing files and unset secrets, without starting anything', async () => {
    const file = configFile(`
sources:
  - type: file
    path: /nonexistent/access.log
policies: [/nonexistent/policy.yaml]
sinks:
  - type: stdout
  - type: webhook
    url: not-a-url
  - type: pagerduty
    routingKey: { env: CHECK_TEST_UNSET_KEY }
`);
    const err = await checkCommand.run(['--config', file]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    // Schema errors come first and alone: cross-field checks need a config that parses.
    expect(problems.some((p) => p.startsWith('sinks[1].url: '))).toBe(true);

    const fixed = configFile(`
sources:
  - type: file
    path: /nonexistent/access.log
policies: [/nonexistent/policy.yaml]
sinks:
  - type: pagerduty
    routingKey: { env: CHECK_TEST_UNSET_KEY }
`);
    const err2 = (await checkCommand.run(['--config', fixed]).catch((e: unknown) => e)) as ConfigError;
    expect(err2.problems).toEqual([
      'sinks[0] (pagerduty).routingKey: the environment variable CHECK_TEST_UNSET_KEY is not set.',
      expect.stringMatching(/^policies\[0\]: Cannot read policy file \/nonexistent\/policy.yaml/),
      'sources[0].path: no such file: /nonexistent/access.log',
    ]);
  });

  it('prints a summary and exits 0 for a valid config', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const file = configFile('name: ok\nsinks:\n  - type: stdout\n');
    const code = await checkCommand.run(['--config', file]);
    const out = write.mock.calls.map((c) => String(c[0])).join('');
    write.mockRestore();
    expect(code).toBe(0);
    expect(out).toContain('OK (pipeline "ok"; sinks: stdout)');
  });
});
