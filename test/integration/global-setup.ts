import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { StackInfo } from './helpers/stack.js';

const STACK_SCRIPT = fileURLToPath(new URL('../../deploy/local/stack.sh', import.meta.url));
const STACK_DIR =
  process.env.EGRESS_SENTINEL_STACK_DIR ?? fileURLToPath(new URL('../../.stack', import.meta.url));
const SERVERS = ['kafka', 'elasticsearch'] as const;
type Server = (typeof SERVERS)[number];

function stackScript(...args: string[]): number {
  // Inherited output: CI logs then show what was started, and a failure's log excerpt.
  const result = spawnSync('bash', [STACK_SCRIPT, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) throw new Error(`Could not run ${STACK_SCRIPT}: ${result.error.message}`);
  return result.status ?? 1;
}

/**
 * Uses KAFKA_BROKERS and ELASTICSEARCH_URL when both are set; otherwise starts whichever local server is
 * down, and stops exactly those afterwards (a stack that was already up is left up).
 */
export default function setup(project: TestProject): () => void {
  const brokersEnv = process.env.KAFKA_BROKERS;
  const esEnv = process.env.ELASTICSEARCH_URL;
  if (brokersEnv && esEnv) {
    const info: StackInfo = {
      kafkaBrokers: brokersEnv.split(',').map((broker) => broker.trim()),
      elasticsearchUrl: esEnv.replace(/\/+$/, ''),
      external: true,
      ownsElasticsearch: false,
    };
    console.log(`[integration] using KAFKA_BROKERS=${brokersEnv} ELASTICSEARCH_URL=${esEnv}`);
    project.provide('stack', info);
    return () => {};
  }
  if (brokersEnv || esEnv) {
    throw new Error('Set both KAFKA_BROKERS and ELASTICSEARCH_URL, or neither (to use the local stack).');
  }

  const started: Server[] = [];
  for (const server of SERVERS) {
    if (stackScript('status', server) === 0) continue;
    if (stackScript('up', server) !== 0) {
      for (const done of started.reverse()) stackScript('down', done);
      throw new Error(`deploy/local/stack.sh up ${server} failed; its output is above.`);
    }
    started.push(server);
  }
  project.provide('stack', {
    kafkaBrokers: [`127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`],
    elasticsearchUrl: `http://127.0.0.1:${process.env.ES_PORT ?? '9200'}`,
    external: false,
    // stack.sh writes this pid file only for a node it started itself (not another checkout's).
    ownsElasticsearch: existsSync(join(STACK_DIR, 'elasticsearch.pid')),
  });
  return () => {
    for (const server of [...started].reverse()) stackScript('down', server);
  };
}
