/**
 * The stack benchmarks need the local Kafka (and Elasticsearch): when a server does not answer, say
 * so and how to start it, instead of a client library's stack trace minutes later.
 */
import { connect } from 'node:net';

/** Exit code for "a server could not be reached", as the CLI's (src/cli/exit.ts). */
const SERVER_UNREACHABLE = 5;

function tcp(address: string, timeoutMs: number): Promise<string | null> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (problem: string | null) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000} s`));
    socket.once('connect', () => done(null));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

async function http(url: string, timeoutMs: number): Promise<string | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return r.ok ? null : `HTTP ${r.status}`;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return cause?.code ?? (err as Error).message;
  }
}

/** Exits with a message naming each server that does not answer and `npm run stack:up`. */
export async function requireStack(
  bench: string,
  servers: { kafka: readonly string[]; elasticsearch?: string },
): Promise<void> {
  const problems: string[] = [];
  for (const broker of servers.kafka) {
    const p = await tcp(broker, 3000);
    if (p !== null) problems.push(`Kafka at ${broker}: ${p}`);
  }
  if (servers.elasticsearch !== undefined) {
    // The cluster's health, not its root: the root can refuse GET (HTTP 405 seen on the shared stack)
    // while indexing and searching work.
    const p = await http(`${servers.elasticsearch.replace(/\/$/, '')}/_cluster/health`, 3000);
    if (p !== null) problems.push(`Elasticsearch at ${servers.elasticsearch}: ${p}`);
  }
  if (problems.length === 0) return;
  process.stderr.write(
    `${bench}: cannot reach ${problems.join('; ')}.\n` +
      'Start the stack with npm run stack:up (npm run stack:status shows it), or point KAFKA_BROKERS / ELASTICSEARCH_URL at yours.\n',
  );
  process.exit(SERVER_UNREACHABLE);
}
