import { describe, expect, it } from 'vitest';
import { benchCommands } from '../../bench/all.js';

describe('npm run bench', () => {
  it('passes the same arguments (for example --json) to the parse and the detection benchmarks', () => {
    const commands = benchCommands(['--json'], 'dist/bench');
    expect(commands.map((c) => c.nodeArgs)).toEqual([
      ['dist/bench/parse.js', '--json'],
      ['--expose-gc', 'dist/bench/detect.js', '--json'],
    ]);
  });
});
