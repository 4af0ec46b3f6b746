/**
 * Every registered source honours the component contract (Vector's assert_source_compliance): its
 * spec describes it, its settings are described and strict, and its example parses and builds a
 * source without opening anything.
 */
import { describe, expect, it } from 'vitest';
import { SOURCES, SourceConfigSchema, sourceProblems } from '../../src/sources/registry.js';
import type { SourceSpec } from '../../src/sources/spec.js';
import { expectDescribedSchema } from '../helpers/component-spec.js';

const specs = SOURCES.map((s) => [s.type, s as unknown as SourceSpec] as const);

it('source types are unique and all in the config union', () => {
  const types = SOURCES.map((s) => s.type);
  expect(new Set(types).size).toBe(types.length);
  expect(SourceConfigSchema.options.map((o) => o.shape.type.value)).toEqual(types);
});

describe.each(specs)('source %s', (type, spec) => {
  it('has a one-line summary and every setting described', () => {
    expectDescribedSchema(spec.config);
  });

  it('parses its example, through the sources union too, and rejects an unknown setting', () => {
    const parsed = spec.config.parse(spec.example);
    expect(parsed.type).toBe(type);
    expect(SourceConfigSchema.parse(spec.example)).toEqual(parsed);
    const r = SourceConfigSchema.safeParse({ ...(spec.example as object), batchsize: 10 });
    expect(JSON.stringify(r.error?.issues)).toContain('batchsize');
  });

  it('builds from its example without opening anything', async () => {
    const source = spec.create(spec.config.parse(spec.example), {});
    expect(source.name).not.toBe('');
    expect(typeof source.batches).toBe('function');
    await source.close();
  });
});

it("reports a file source's missing file with its path", () => {
  const config = SourceConfigSchema.parse({ type: 'file', path: '/nonexistent/egress.log' });
  expect(sourceProblems([config], {})).toEqual(['sources[0].path: no such file: /nonexistent/egress.log']);
});
