/** The installed package's root and version, wherever it runs from (a clone, node_modules, the image). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** dist/src/cli -> three levels up; src/cli (under vitest) -> two. */
export const PACKAGE_ROOT =
  [resolve(HERE, '../../..'), resolve(HERE, '../..')].find((d) => existsSync(join(d, 'package.json'))) ??
  process.cwd();

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}
