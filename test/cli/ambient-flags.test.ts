import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoCommand } from '../../src/cli/demo.js';
import { UsageError } from '../../src/cli/exit.js';
import { optionsFromArgs } from '../../src/cli/simulate.js';

describe('--dataplane (simulate, demo)', () => {
  it('simulate reads sidecar, ambient and mixed, and refuses anything else as a usage error', () => {
    expect(optionsFromArgs([]).options.dataplane).toBeUndefined();
    expect(optionsFromArgs(['--dataplane', 'ambient']).options.dataplane).toBe('ambient');
    expect(optionsFromArgs(['--dataplane', 'mixed']).options.dataplane).toBe('mixed');
    expect(() => optionsFromArgs(['--dataplane', 'sidecarless'])).toThrow(UsageError);
    expect(() => optionsFromArgs(['--dataplane', 'sidecarless'])).toThrow(
      /--dataplane sidecar, ambient, mixed/,
    );
  });

  it('demo refuses an unknown dataplane before simulating anything', async () => {
    const out = mkdtempSync(join(tmpdir(), 'demo-dataplane-'));
    await expect(demoCommand.run(['--out', out, '--dataplane', 'cilium'])).rejects.toThrow(UsageError);
  });
});
