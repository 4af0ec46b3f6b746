/** Builders and a local HTTP receiver shared by the sink tests. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Alert } from '../../src/alerts/types.js';
import type { DeadLetter } from '../../src/dead-letter.js';
import type { SinkContext } from '../../src/sinks/types.js';

export function makeAlert(
  overrides: Partial<Alert> & { id?: string; status?: 'firing' | 'resolved' } = {},
): Alert {
  const { id = 'a1b2c3', status = 'firing', ...rest } = overrides;
  return {
    '@timestamp': '2025-03-01T10:00:00.000Z',
    alert: {
      id,
      status,
      repeats: 0,
      first_seen: '2025-03-01T10:00:00.000Z',
      last_seen: '2025-03-01T10:00:00.000Z',
    },
    rule: { id: 'gateway-bypass', name: 'Egress gateway bypassed' },
    severity: 'high',
    reason: 'app-a/app-a reached api.example.com:443 directly via PassthroughCluster',
    source: {
      principal: 'spiffe://cluster.local/ns/app-a/sa/app-a',
      namespace: 'app-a',
      workload: 'app-a',
      pod: 'app-a-1',
      ip: '10.0.0.5',
    },
    destination: {
      domain: 'api.example.com',
      registered_domain: 'example.com',
      ip: '93.184.216.34',
      port: 443,
    },
    network: { path: 'passthrough', protocol: 'tls' },
    evidence: { cluster: 'PassthroughCluster' },
    ...rest,
  };
}

export interface TestContext extends SinkContext {
  readonly deadLetters: DeadLetter[];
  readonly logs: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
  readonly controller: AbortController;
}

export function testContext(env: NodeJS.ProcessEnv = {}): TestContext {
  const deadLetters: DeadLetter[] = [];
  const logs: TestContext['logs'] = [];
  const controller = new AbortController();
  return {
    deadLetters,
    logs,
    controller,
    env,
    signal: controller.signal,
    log: (level, message, fields) =>
      logs.push(fields === undefined ? { level, message } : { level, message, fields }),
    deadLetter: async (r) => {
      deadLetters.push(r);
    },
  };
}

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** What the receiver answered. */
  status: number;
}

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Decides the status for each request (default 200). */
  respond: (req: ReceivedRequest, n: number) => number;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const receiver: Receiver = {
    url: '',
    requests,
    respond: () => 200,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const r: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        status: 0,
      };
      requests.push(r);
      r.status = receiver.respond(r, requests.length);
      res.statusCode = r.status;
      res.end(res.statusCode < 300 ? '{"status":"success"}' : '{"error":"nope"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  (receiver as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  server.keepAliveTimeout = 100;
  return receiver;
}
