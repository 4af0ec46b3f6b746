/**
 * Data flows one way: sources -> parse -> identity -> (policy) -> detect -> alerts -> sinks, and the
 * assemblies (observability, pipeline, scale, report, dashboards, simulate, cli) sit on top. A
 * module may import its own layer or a lower one, never a higher one (issue #14: loading a policy
 * pulled in the whole config graph through such an import). Type-only imports count too: they
 * are how the dependency starts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/** Top-level folder (or root module) of src -> its layer; higher layers may import lower ones. */
const LAYERS: Readonly<Record<string, number>> = {
  errors: 0,
  'dead-letter': 0,
  config: 0,
  sketch: 0,
  sources: 1,
  parse: 2,
  identity: 3,
  policy: 4,
  detect: 5,
  alerts: 6,
  sinks: 7,
  observability: 8,
  pipeline: 9,
  scale: 10,
  report: 11,
  dashboards: 11,
  simulate: 12,
  cli: 13,
};

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** `src/<top>/...` or `src/<top>.ts` -> `<top>`. */
function layerOf(file: string): string {
  const [top = ''] = relative(SRC, file).split(/[\\/]/);
  return top.replace(/\.[jt]s$/, '');
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) specs.push(m[1] as string);
  return specs;
}

/** Every import that goes up a layer, as `from -> to (specifier)`. */
function upwardImports(root = SRC): string[] {
  const out: string[] = [];
  for (const file of tsFiles(root)) {
    const from = layerOf(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const to = layerOf(resolve(dirname(file), spec));
      const a = LAYERS[from];
      const b = LAYERS[to];
      if (a === undefined || b === undefined) {
        out.push(`${relative(SRC, file)}: ${from} or ${to} has no layer in test/layers.test.ts`);
      } else if (b > a) out.push(`${relative(SRC, file)} (${from}) imports ${spec} (${to})`);
    }
  }
  return out;
}

describe('layers', () => {
  it('every top-level folder of src has a layer', () => {
    const tops = readdirSync(SRC).map((n) => n.replace(/\.ts$/, ''));
    expect(tops.filter((t) => LAYERS[t] === undefined)).toEqual([]);
  });

  it("README's layout names every top-level folder and module of src", () => {
    const readme = readFileSync(resolve(SRC, '../README.md'), 'utf8');
    const layout = /## Layout\n+```\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const missing = readdirSync(SRC, { withFileTypes: true })
      .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
      .filter((name) => !new RegExp(`(^|\\s)${name.replace('.', '\\.')}`).test(layout));
    expect(missing).toEqual([]);
  });

  it('no module imports a higher layer', () => {
    expect(upwardImports()).toEqual([]);
  });

  it('reads static, type-only, re-exported and dynamic imports', () => {
    const text = [
      "import { a } from '../detect/rules.js';",
      "import type { B } from '../alerts/types.js';",
      "export type { C } from './c.js';",
      "const m = await import('../sinks/registry.js');",
      "import './side-effect.js';",
      "import { z } from 'zod';",
    ].join('\n');
    expect(importsOf(text)).toEqual([
      '../detect/rules.js',
      '../alerts/types.js',
      './c.js',
      '../sinks/registry.js',
      './side-effect.js',
    ]);
  });
});
