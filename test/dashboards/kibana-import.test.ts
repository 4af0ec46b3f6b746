import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importSavedObjects } from '../../src/dashboards/kibana-import.js';
import { savedObjects, toNdjson } from '../../src/dashboards/saved-objects.js';
import { SentinelError } from '../../src/errors.js';

// A stand-in Kibana on 127.0.0.1 whose answer each test chooses.
let server: Server;
let url = '';
let answer: { status: number; body: string } = { status: 200, body: '{}' };
const seen: { url: string; headers: IncomingMessage['headers']; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const ndjson = toNdjson(savedObjects());

describe('importSavedObjects', () => {
  it('posts the NDJSON as multipart with kbn-xsrf and overwrite, and returns the count', async () => {
    answer = { status: 200, body: JSON.stringify({ success: true, successCount: 6 }) };
    const result = await importSavedObjects({
      url: `${url}/`,
      ndjson,
      authorization: 'ApiKey abc',
      space: 'sec',
    });
    expect(result.successCount).toBe(6);
    const req = seen.at(-1);
    expect(req?.url).toBe('/s/sec/api/saved_objects/_import?overwrite=true');
    expect(req?.headers['kbn-xsrf']).toBeDefined();
    expect(req?.headers.authorization).toBe('ApiKey abc');
    expect(req?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(req?.body).toContain('filename="egress-sentinel.ndjson"');
    expect(req?.body).toContain(ndjson.split('\n')[0]);
  });

  it('names each object Kibana rejected and why', async () => {
    answer = {
      status: 200,
      body: JSON.stringify({
        success: false,
        successCount: 5,
        errors: [
          {
            id: 'egress-sentinel-overview',
            type: 'dashboard',
            meta: { title: 'Egress overview' },
            error: { type: 'unknown', message: 'bad panelsJSON' },
          },
        ],
      }),
    };
    await expect(importSavedObjects({ url, ndjson })).rejects.toThrow(
      /rejected 1 of the saved objects:\n {2}- dashboard "Egress overview" \(egress-sentinel-overview\): unknown bad panelsJSON/,
    );
  });

  it('says credentials are needed on 401 and what came back on a non-Kibana answer', async () => {
    answer = { status: 401, body: '{"statusCode":401}' };
    await expect(importSavedObjects({ url, ndjson })).rejects.toMatchObject({ code: 'ESN_AUTH' });
    answer = { status: 404, body: '<html>nginx</html>' };
    await expect(importSavedObjects({ url, ndjson })).rejects.toThrow(/not Kibana's JSON: <html>nginx/);
    answer = { status: 400, body: '{"message":"Invalid file extension"}' };
    await expect(importSavedObjects({ url, ndjson })).rejects.toThrow(
      /rejected the import \(HTTP 400\).*Invalid file extension/,
    );
  });

  it('says Kibana is unreachable when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await importSavedObjects({ url: `http://127.0.0.1:${port}`, ndjson }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SentinelError);
    expect(err).toMatchObject({
      code: 'ESN_SERVER_UNREACHABLE',
      message: expect.stringMatching(/Cannot reach Kibana at .*ECONNREFUSED/),
    });
  });

  describe('secrets (issue #15 item 6)', () => {
    const apiKey = 'VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==';

    it('does not repeat an API key a reply echoes, in any of its error messages', async () => {
      const echo = `{"message":"bad request from ApiKey ${apiKey}"}`;
      for (const a of [
        { status: 500, body: echo },
        { status: 502, body: `<html>upstream said ApiKey ${apiKey}</html>` },
        {
          status: 200,
          body: JSON.stringify({
            success: false,
            errors: [
              { id: 'x', type: 'index-pattern', error: { type: 'unknown', message: `key ${apiKey}` } },
            ],
          }),
        },
      ]) {
        answer = a;
        const err = (await importSavedObjects({ url, ndjson, authorization: `ApiKey ${apiKey}` }).catch(
          (e: unknown) => e,
        )) as SentinelError;
        expect(err).toBeInstanceOf(SentinelError);
        expect(err.message).toContain('[redacted]');
        expect(`${err.message} ${JSON.stringify(err)}`).not.toContain(apiKey.slice(0, 20));
      }
    });

    it('sends credentials in the URL as Basic auth and never prints them', async () => {
      answer = { status: 200, body: JSON.stringify({ success: true, successCount: 6 }) };
      const withCreds = url.replace('http://', 'http://elastic:s3cret%2Fpass@');
      expect((await importSavedObjects({ url: withCreds, ndjson })).successCount).toBe(6);
      expect(seen.at(-1)?.headers.authorization).toBe(
        `Basic ${Buffer.from('elastic:s3cret/pass').toString('base64')}`,
      );
      answer = { status: 400, body: '{"message":"no user elastic:s3cret/pass"}' };
      const rejected = (await importSavedObjects({ url: withCreds, ndjson }).catch(
        (e: unknown) => e,
      )) as Error;
      expect(rejected.message).toMatch(/Kibana at http:\/\/\*\*\*@127\.0\.0\.1:\d+ rejected the import/);
      expect(`${rejected.message} ${JSON.stringify(rejected)}`).not.toMatch(/s3cret/);
      const unreachable = (await importSavedObjects({
        url: 'http://elastic:s3cret@127.0.0.1:9',
        ndjson,
      }).catch((e: unknown) => e)) as Error;
      expect(unreachable.message).toMatch(/Cannot reach Kibana at http:\/\/\*\*\*@127\.0\.0\.1:9/);
      expect(`${unreachable.message} ${JSON.stringify(unreachable)}`).not.toMatch(/s3cret/);
    });
  });
});
