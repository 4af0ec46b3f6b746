/**
 * Scaled-mode integration tests run real `egress-sentinel run` processes in one consumer group:
 * a pipeline config for them, a way to start one with its stderr kept, and clean-up of what the
 * test's name prefix created on the shared servers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kafka } from 'kafkajs';
import { elasticsearchUrl, kafkaBrokers } from './stack.js';

const CLI = fileURLToPath(new URL('../../../dist/src/cli/main.js', import.meta.url));

/**
 * Writes a scaled pipeline config (Kafka input `input`, group `name`, Elasticsearch sink with
 * `name` as index prefix, 4 by-source partitions, metrics on a free port) and returns its path.
 * `esSink` adds to the sink's options, `detection` is the YAML of the detection section.
 */
export function writeScaledPipeline(name: string, input: string, detection: string, esSink = ''): string {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const config = join(dir, 'pipeline.yaml');
  writeFileSync(
    config,
    [
      `name: ${name}`,
      'sources:',
      `  - { type: kafka, connection: { brokers: [${kafkaBrokers().join(',')}] }, groupId: ${name}, topics: [${input}], fromBeginning: true, sessionTimeoutMs: 10000 }`,
      'sinks:',
      `  - { type: elasticsearch, connection: { url: "${elasticsearchUrl()}" }, indexPrefix: ${name}${esSink === '' ? '' : `, ${esSink}`} }`,
      'scale: { enabled: true, partitions: 4, commitIntervalMs: 500 }',
      'metrics: { enabled: true, host: 127.0.0.1, port: 0 }',
      `delivery: { deadLetterFile: ${join(dir, 'dead.jsonl')} }`,
      `detection: ${detection}`,
      '',
    ].join('\n'),
  );
  return config;
}

/** Starts `egress-sentinel run --config config`, appending its stderr to `log`. */
export function startInstance(config: string, log: string[]): ChildProcess {
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  return child;
}

/** Kills what is still running and deletes the topics and indices whose names start with `name`. */
export async function cleanUpScaled(kafka: Kafka, name: string, children: ChildProcess[]): Promise<void> {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  const admin = kafka.admin();
  await admin.connect();
  const mine = (await admin.listTopics()).filter((t) => t.startsWith(name));
  await admin.deleteTopics({ topics: mine }).catch(() => {});
  await admin.disconnect();
  await fetch(`${elasticsearchUrl()}/${name}-*`, { method: 'DELETE' }).catch(() => {});
}
