import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileSink, FileSinkConfigSchema } from '../../src/sinks/file.js';
import { EMPTY_BATCH } from '../../src/sinks/types.js';
import { makeAlert } from './helpers.js';

describe('FileSink', () => {
  it('appends one JSON line per alert, and flows with a kind when asked', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'es-file-')), 'sub', 'out.jsonl');
    const sink = new FileSink(
      FileSinkConfigSchema.parse({ type: 'file', path, include: ['alerts', 'flows'] }),
    );
    await sink.start();
    await sink.write({ ...EMPTY_BATCH, alerts: [makeAlert({ id: 'x1' }), makeAlert({ id: 'x2' })] });
    await sink.write({
      ...EMPTY_BATCH,
      flows: [
        {
          '@timestamp': '2025-03-01T10:00:00.000Z',
          id: 'f1',
          late: false,
          source: { key: 'a/b', principal: null, namespace: 'a', workload: 'b' },
          destination: { domain: 'x.com', registered_domain: 'x.com', port: 443, external: true },
          network: { path: 'passthrough', reporter: 'sidecar' },
          requests: 1,
          connections: 0,
          bytes_up: 1,
          bytes_down: 2,
          errors: 0,
        },
      ],
    });
    await sink.close();
    const lines = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.alert?.id ?? l.kind)).toEqual(['x1', 'x2', 'flow']);
  });
});
