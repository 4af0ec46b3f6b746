/**
 * Per-item handling of bulk responses, against a local HTTP server that answers like Elasticsearch
 * (the real-server behaviour is covered by test/integration/delivery*.test.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@elastic/elasticsearch';
import { afterEach, describe, expect, it } from 'vitest';
import { type BulkDoc, bulkWrite } from '../../../src/sinks/elasticsearch/bulk.js';

type ItemAnswer = { status: number; error?: { type: string; reason: string } };

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** A fake _bulk endpoint: `answer(id, attempt)` decides each item's status. */
async function fakeBulk(
  answer: (id: string, attempt: number) => ItemAnswer | 'drop',
): Promise<{ client: Client; seen: string[][] }> {
  const seen: string[][] = [];
  const attempts = new Map<string, number>();
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const lines = body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const ids: string[] = [];
      const items = [];
      let drop = false;
      for (let i = 0; i < lines.length; i += 2) {
        const [op, meta] = Object.entries(lines[i])[0] as [string, { _id: string; _index: string }];
        ids.push(meta._id);
        const n = (attempts.get(meta._id) ?? 0) + 1;
        attempts.set(meta._id, n);
        const a = answer(meta._id, n);
        if (a === 'drop') drop = true;
        else items.push({ [op]: { _index: meta._index, _id: meta._id, ...a } });
      }
      seen.push(ids);
      if (drop) {
        res.statusCode = 503;
        res.setHeader('x-elastic-product', 'Elasticsearch');
        res.end('{"error":"unavailable","status":503}');
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-elastic-product', 'Elasticsearch');
      res.end(
        JSON.stringify({ took: 1, errors: items.some((it) => Object.values(it)[0]?.status >= 300), items }),
      );
    });
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return { client: new Client({ node: `http://127.0.0.1:${port}`, maxRetries: 0 }), seen };
}

const retry = { maxAttempts: 4, initialDelayMs: 5, maxDelayMs: 20 };
const docs: BulkDoc[] = ['ok', 'dup', 'busy', 'bad'].map((id) => ({
  index: 'x',
  id,
  op: 'create',
  doc: { id },
}));

describe('bulkWrite', () => {
  it('treats 409 on create as already there, retries 429 alone, and returns 400 as rejected with the reason', async () => {
    const { client, seen } = await fakeBulk((id, n) => {
      if (id === 'dup')
        return { status: 409, error: { type: 'version_conflict_engine_exception', reason: 'exists' } };
      if (id === 'busy' && n < 3)
        return { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } };
      if (id === 'bad')
        return {
          status: 400,
          error: { type: 'document_parsing_exception', reason: 'failed to parse field [bytes_up]' },
        };
      return { status: 201 };
    });
    const out = await bulkWrite(client, docs, retry, new AbortController().signal, 'test');
    expect(out.written).toBe(2);
    expect(out.existing).toBe(1);
    expect(out.rejected.map((r) => [r.doc.id, r.status])).toEqual([['bad', 400]]);
    expect(out.rejected[0]?.reason).toContain('document_parsing_exception');
    expect(seen).toEqual([['ok', 'dup', 'busy', 'bad'], ['busy'], ['busy']]);
  });

  it('retries the whole request on a 503 and throws, naming the server, when retries run out', async () => {
    const { client, seen } = await fakeBulk(() => 'drop');
    await expect(
      bulkWrite(client, docs.slice(0, 1), retry, new AbortController().signal, 'http://es-test'),
    ).rejects.toThrow(/http:\/\/es-test: 1 document\(s\) still failing after 4 attempt/);
    expect(seen).toHaveLength(4);
  });

  it('retries when the server is unreachable', async () => {
    const client = new Client({ node: 'http://127.0.0.1:1', maxRetries: 0 });
    await expect(
      bulkWrite(client, docs.slice(0, 1), { ...retry, maxAttempts: 2 }, new AbortController().signal, 'es'),
    ).rejects.toThrow(/still failing after 2 attempt/);
  });
});
