import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inject } from 'vitest';

const run = promisify(execFile);
const STACK_SCRIPT = fileURLToPath(new URL('../../../deploy/local/stack.sh', import.meta.url));

/** What the integration global setup found or started; see global-setup.ts. */
export interface StackInfo {
  kafkaBrokers: string[];
  elasticsearchUrl: string;
  /** True when the servers came from KAFKA_BROKERS / ELASTICSEARCH_URL: this checkout cannot stop them. */
  external: boolean;
  /** True when this checkout's stack.sh runs Elasticsearch (so a test may stop and start it). */
  ownsElasticsearch: boolean;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

function stack(): StackInfo {
  return inject('stack');
}

export function kafkaBrokers(): string[] {
  return stack().kafkaBrokers;
}

export function elasticsearchUrl(): string {
  return stack().elasticsearchUrl;
}

/** A topic or index name no other test (or earlier run against the same servers) has used. */
export function uniqueName(prefix: string): string {
  // Lower case: Elasticsearch index names must be.
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.toLowerCase();
}

/** Polls `fn` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  what: string,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

async function stackScript(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('bash', [STACK_SCRIPT, ...args], { maxBuffer: 16 * 1024 * 1024 });
    return stdout + stderr;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`deploy/local/stack.sh ${args.join(' ')} failed: ${detail}`);
  }
}

async function elasticsearchAnswers(): Promise<boolean> {
  try {
    const response = await fetch(`${elasticsearchUrl()}/_cluster/health`, {
      signal: AbortSignal.timeout(2000),
    });
    return response.ok;
  } catch {
    return false;
  }
}

/** Whether stopElasticsearch()/startElasticsearch() may be used; tests that need them skip otherwise. */
export function canRestartElasticsearch(): boolean {
  return stack().ownsElasticsearch;
}

function requireLocalStack(action: string): void {
  if (!stack().ownsElasticsearch) {
    throw new Error(
      `Cannot ${action}: Elasticsearch at ${elasticsearchUrl()} was not started by this checkout ` +
        '(ELASTICSEARCH_URL is set, or another checkout runs it). Guard the test with canRestartElasticsearch().',
    );
  }
}

/** Stops the local Elasticsearch node (for delivery tests that need it gone mid-stream). */
export async function stopElasticsearch(): Promise<void> {
  requireLocalStack('stop Elasticsearch');
  await stackScript('down', 'elasticsearch');
  if (await elasticsearchAnswers()) {
    throw new Error(
      `Elasticsearch at ${elasticsearchUrl()} still answers after stack.sh down: ` +
        'it was started by another checkout, which this one may not stop.',
    );
  }
}

/** Starts the local Elasticsearch node again and waits until it is healthy. */
export async function startElasticsearch(): Promise<void> {
  requireLocalStack('start Elasticsearch');
  await stackScript('up', 'elasticsearch');
  await waitFor(elasticsearchAnswers, 60_000, `Elasticsearch at ${elasticsearchUrl()} to answer`);
}
