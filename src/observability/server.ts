/**
 * The operator's HTTP port: `/metrics` (Prometheus text format), `/healthz` (liveness) and
 * `/readyz` (readiness), on node:http so nothing else is pulled in.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { SentinelError } from '../errors.js';
import type { Health } from './health.js';

export interface MetricsServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(options: {
  host: string;
  port: number;
  registry: Registry;
  health: Health;
}): Promise<MetricsServer> {
  const { registry, health } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) =>
          res
            .writeHead(500, { 'content-type': 'text/plain' })
            .end(`Could not collect metrics: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const ok = path === '/healthz' ? health.live : health.ready;
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(`${JSON.stringify(health.report())}\n`);
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('Not found: try /metrics, /healthz or /readyz.\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new SentinelError(
          'ESN_CONFIG',
          `Cannot listen on ${options.host}:${options.port} for metrics: ${err.code ?? err.message}`,
          { where: 'metrics.port', cause: err },
        ),
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  // Keep-alive scrapers must not hold shutdown open.
  server.keepAliveTimeout = 5_000;
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
