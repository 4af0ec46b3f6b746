/** Issue #15 items 6 and 7: secrets stay out of logs and dead letters; `check` says what weakens. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redactUrl, scrubRemoteText } from '../../../src/config/redact.js';
import { parsePipelineConfig } from '../../../src/pipeline/config.js';
import { securityWarnings } from '../../../src/pipeline/validate.js';
import { EMPTY_BATCH } from '../../../src/sinks/types.js';
import {
  PagerDutySinkConfigSchema,
  SlackSinkConfigSchema,
  WebhookSink,
} from '../../../src/sinks/webhook/index.js';
import { redactUrl as webhookRedact } from '../../../src/sinks/webhook/retry.js';
import { makeAlert, testContext } from '../helpers.js';

const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdef012345';

describe('URLs shown without their secrets', () => {
  it('hides the path of any webhook URL, not only slack.com', () => {
    expect(webhookRedact('https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX')).toBe(
      'https://hooks.slack.com/services/…',
    );
    expect(webhookRedact('https://discord.com/api/webhooks/123/SECRET-TOKEN')).toBe(
      'https://discord.com/api/…',
    );
    expect(webhookRedact('https://hooks.example.org/0f8fad5b-d9cb-469f-a165-70867728950e')).toBe(
      'https://hooks.example.org/…',
    );
    expect(webhookRedact('https://alerts.example.org/hook')).toBe('https://alerts.example.org/hook');
  });

  it('drops credentials and query strings, and keeps an Elasticsearch path', () => {
    expect(redactUrl('http://elastic:PASS@es.example:9200/prefix?token=T', { keepPath: true })).toBe(
      'http://***@es.example:9200/prefix',
    );
    expect(redactUrl('not a url')).toBe('(invalid url)');
  });

  it('scrubs what was sent, and token-like runs, from a reply', () => {
    expect(scrubRemoteText(`bad key ${ROUTING_KEY}, id 42\u001b[2J`, [ROUTING_KEY])).toBe(
      'bad key [redacted], id 42 [2J',
    );
    expect(scrubRemoteText('x'.repeat(500), []).length).toBeLessThan(220);
  });
});

describe('a receiver that echoes the request', () => {
  let server: Server;
  let url = '';
  beforeEach(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        res.statusCode = 400;
        res.end(`invalid event: ${body} (sent to ${req.url})`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('does not put the PagerDuty routing key into the log or the dead letter', async () => {
    const ctx = testContext({ PD_KEY: ROUTING_KEY });
    const sink = new WebhookSink(
      PagerDutySinkConfigSchema.parse({
        type: 'pagerduty',
        url: `${url}/v2/enqueue`,
        routingKey: { env: 'PD_KEY' },
      }),
      ctx,
    );
    await sink.write({ ...EMPTY_BATCH, alerts: [makeAlert()] });
    expect(ctx.deadLetters).toHaveLength(1);
    const seen = JSON.stringify({ logs: ctx.logs, reason: ctx.deadLetters[0]?.reason });
    expect(seen).toContain('answered 400: invalid event');
    expect(seen).not.toContain(ROUTING_KEY);
  });

  it("does not put a Slack URL's secret path into the log or the dead letter", async () => {
    const hook = `${url}/services/T0AAAAAAA/B0BBBBBBB/XXXXXXXXXXXXXXXXXXXXXXXX`;
    const ctx = testContext({ SLACK_URL: hook });
    const sink = new WebhookSink(
      SlackSinkConfigSchema.parse({ type: 'slack', url: { env: 'SLACK_URL' } }),
      ctx,
    );
    await sink.write({ ...EMPTY_BATCH, alerts: [makeAlert()] });
    const seen = JSON.stringify({ logs: ctx.logs, reason: ctx.deadLetters[0]?.reason });
    expect(seen).toContain('/services/…');
    for (const part of ['T0AAAAAAA', 'B0BBBBBBB', 'XXXXXXXXXXXXXXXXXXXXXXXX'])
      expect(seen).not.toContain(part);
  });
});

describe('check warns on every weakening', () => {
  it('names rejectUnauthorized false, SASL PLAIN without TLS, an API key over http and credentials in a webhook URL', () => {
    const config = parsePipelineConfig(
      {
        sources: [
          {
            type: 'kafka',
            topics: ['mesh-logs'],
            connection: { brokers: ['kafka:9092'], sasl: { mechanism: 'plain', username: 'u' } },
          },
        ],
        sinks: [
          {
            type: 'elasticsearch',
            connection: {
              url: 'http://es:9200',
              apiKey: { env: 'ES_KEY' },
              tls: { rejectUnauthorized: false },
            },
          },
          { type: 'webhook', url: 'https://user:pass@hooks.example.org/alerts' },
        ],
      },
      '(test)',
    );
    const w = securityWarnings(config, {});
    expect(w).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^sources\[0\]\.connection\.sasl: mechanism plain without tls sends the Kafka password in clear text/,
        ),
        expect.stringMatching(/^sinks\[0\]\.connection\.tls\.rejectUnauthorized: false/),
        expect.stringMatching(/^sinks\[0\]\.connection: an API key over http:\/\/ \(http:\/\/es:9200\)/),
        expect.stringMatching(/^sinks\[1\]\.url: credentials in a webhook URL/),
        expect.stringMatching(/^sinks\[1\]: no secret: receivers cannot tell/),
      ]),
    );
    expect(w.join('\n')).not.toContain('pass@');
    expect(w).toHaveLength(5);
  });

  it('says nothing for a sound config', () => {
    const config = parsePipelineConfig(
      {
        sources: [
          {
            type: 'kafka',
            topics: ['t'],
            connection: { brokers: ['k:9093'], tls: {}, sasl: { mechanism: 'scram-sha-512' } },
          },
        ],
        sinks: [
          { type: 'elasticsearch', connection: { url: 'https://es:9200', apiKey: { env: 'K' } } },
          { type: 'webhook', url: 'https://hooks.example.org/alerts', secret: { env: 'S' } },
        ],
      },
      '(test)',
    );
    expect(securityWarnings(config, {})).toEqual([]);
  });
});
