/** Checks the compliance tests share (test/compliance): a component schema that describes itself. */
import { expect } from 'vitest';
import type { z } from 'zod';
import { settingRows } from '../../src/detect/reference.js';

/** A sink's or source's schema: its `.describe()` is a one-line summary and every setting but `type` is described. */
export function expectDescribedSchema(schema: z.ZodType): void {
  const summary = schema.description?.trim() ?? '';
  expect(summary).not.toBe('');
  expect(summary).not.toContain('\n');
  const undescribed = settingRows(schema).filter((r) => r.path !== 'type' && r.description.trim() === '');
  expect(undescribed.map((r) => r.path)).toEqual([]);
}
