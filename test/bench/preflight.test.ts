import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT, runNode } from '../helpers/built-cli.js';

beforeAll(() => ensureBuilt(), 240_000);

const HOW =
  'Start the stack with npm run stack:up (npm run stack:status shows it), or point KAFKA_BROKERS / ELASTICSEARCH_URL at yours.\n';
const CASES: { name: string; script: string; args: string[]; what: string }[] = [
  {
    name: 'bench:stack',
    script: 'dist/bench/stack.js',
    args: [],
    what: 'Kafka at 127.0.0.1:1: ECONNREFUSED; Elasticsearch at http://127.0.0.1:2: ECONNREFUSED',
  },
  {
    name: 'bench:restore',
    script: 'dist/bench/restore.js',
    args: ['--keys', '1000'],
    what: 'Kafka at 127.0.0.1:1: ECONNREFUSED',
  },
];

describe('stack benchmarks without the stack', { timeout: 60_000 }, () => {
  it.each(
    CASES,
  )('$name names the server it cannot reach and how to start the stack, without a stack trace', (c) => {
    const env = {
      PATH: process.env.PATH,
      KAFKA_BROKERS: '127.0.0.1:1',
      ELASTICSEARCH_URL: 'http://127.0.0.1:2',
    };
    const r = runNode([join(ROOT, c.script), ...c.args], { env });
    expect(r.status).toBe(5);
    expect(r.stderr).toBe(`${c.name}: cannot reach ${c.what}.\n${HOW}`);
  });
});
