/**
 * The compiled CLI (`node dist/src/cli/main.js`), as a user, a container or CI runs it. `npm test`
 * builds first; a test file run on its own compiles when dist/ is older than src/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist/src/cli/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export function ensureBuilt(): void {
  const newest = Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'bench')));
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newest) return;
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node ARGV...` (argv[0] is the script, as in a container's command line) and waits. */
export function runNode(
  argv: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): CliResult {
  const r = spawnSync(process.execPath, [...argv], {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `egress-sentinel ARGS...` with the compiled CLI. */
export function cli(args: readonly string[], options: Parameters<typeof runNode>[1] = {}): CliResult {
  return runNode([CLI, ...args], options);
}
