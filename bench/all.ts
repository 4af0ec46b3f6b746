/**
 * `npm run bench`: the parse benchmark, then the detection and replay benchmark, each in its own
 * process (the second needs --expose-gc), with the same arguments. npm appends `-- --json` to the
 * script's last command only, so a `&&` chain in package.json gave the parse case no `--json`.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface BenchCommand {
  nodeArgs: string[];
}

/** The node invocations `npm run bench -- ARGS` makes, in order. */
export function benchCommands(args: readonly string[], dir: string): BenchCommand[] {
  return [
    { nodeArgs: [`${dir}/parse.js`, ...args] },
    { nodeArgs: ['--expose-gc', `${dir}/detect.js`, ...args] },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = fileURLToPath(new URL('.', import.meta.url)).replace(/\/$/, '');
  for (const c of benchCommands(process.argv.slice(2), dir)) {
    const r = spawnSync(process.execPath, c.nodeArgs, { stdio: 'inherit' });
    if (r.status !== 0) {
      process.stderr.write(`bench: node ${c.nodeArgs.join(' ')} exited with ${r.status ?? r.signal}\n`);
      process.exit(1);
    }
  }
}
