/** Start-up checks against local HTTP servers that answer like a stripped or secured node. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@elastic/elasticsearch';
import { afterEach, describe, expect, it } from 'vitest';
import { checkApis } from '../../../src/sinks/elasticsearch/setup.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function fakeEs(answer: (path: string) => [number, unknown]): Promise<string> {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const [status, body] = answer(req.url ?? '');
      res.writeHead(status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('checkApis', () => {
  it('fails loudly, naming the API, when the node has no handler for it', async () => {
    const url = await fakeEs((path) =>
      path.startsWith('/_resolve/index')
        ? [400, { error: `no handler found for uri [${path}] and method [GET]` }]
        : [200, path.startsWith('/_search') ? { hits: { hits: [] } } : {}],
    );
    await expect(checkApis(new Client({ node: url }), url)).rejects.toMatchObject({
      code: 'ESN_SERVER_API_MISSING',
      message: expect.stringContaining('has no index resolution (GET _resolve/index) API'),
    });
  });

  it('reports refused credentials as an auth error naming the server', async () => {
    const url = await fakeEs(() => [
      401,
      { error: { type: 'security_exception', reason: 'unable to authenticate user' }, status: 401 },
    ]);
    await expect(checkApis(new Client({ node: url }), url)).rejects.toMatchObject({
      code: 'ESN_AUTH',
      message: expect.stringContaining(`Elasticsearch ${url} refused the credentials`),
    });
  });

  it('reports an unreachable server by its URL', async () => {
    await expect(
      checkApis(new Client({ node: 'http://127.0.0.1:1', maxRetries: 0 }), 'http://127.0.0.1:1'),
    ).rejects.toMatchObject({
      code: 'ESN_SERVER_UNREACHABLE',
      message: expect.stringContaining('Cannot reach Elasticsearch at http://127.0.0.1:1'),
    });
  });
});
