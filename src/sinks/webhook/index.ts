/**
 * Paging sinks: the generic signed webhook, PagerDuty Events v2 and Slack incoming webhooks. Each
 * endpoint has a route (severity, rules, statuses), a token-bucket rate limit and retries with
 * backoff. A status that can never succeed (400, 401, 404, ...) is dead-lettered with the reason at
 * once. When retries of a transient failure run out, `onExhausted` decides: `pause` (default)
 * fails the write so the pipeline stops consuming and retries the batch later, losing nothing;
 * `dead_letter` records the alert and moves on, so a dead pager never holds up the other sinks.
 * Alerts already delivered are remembered (bounded), so a retried batch does not page twice.
 */
import { z } from 'zod';
import type { Alert } from '../../alerts/types.js';
import { HttpUrlSchema, readSecret, SecretRefSchema, secretProblems } from '../../config/connections.js';
import { SentinelError } from '../../errors.js';
import { DEFAULT_RETRY, RetrySchema } from '../backoff.js';
import type { SinkSpec } from '../spec.js';
import type { Sink, SinkBatch, SinkContext } from '../types.js';
import { genericRequest } from './generic.js';
import { PAGERDUTY_EVENTS_URL, pagerDutyRequest } from './pagerduty.js';
import { TokenBucket } from './rate-limit.js';
import { deliver, type HttpRequest, redactUrl } from './retry.js';
import { DEFAULT_ROUTE, RouteSchema, routeMatches } from './route.js';
import { slackRequest } from './slack.js';

const common = {
  name: z.string().optional().describe('A name for logs, metrics and dead letters; defaults to the type.'),
  route: RouteSchema.default(DEFAULT_ROUTE).describe('Which alerts this endpoint receives.'),
  retry: RetrySchema.default(DEFAULT_RETRY).describe(
    'Retries per alert, with exponential backoff and jitter.',
  ),
  rateLimit: z
    .object({
      perSecond: z.number().positive().default(5).describe('Sustained requests per second.'),
      burst: z.number().int().positive().default(10).describe('Requests allowed at once.'),
    })
    .strict()
    .default({ perSecond: 5, burst: 10 }),
  timeoutMs: z.number().int().positive().default(10_000).describe('Timeout of one request.'),
  onExhausted: z
    .enum(['pause', 'dead_letter'])
    .default('pause')
    .describe(
      'When retries run out: pause the pipeline and retry later (nothing lost), or dead-letter the alert.',
    ),
};

export const WebhookSinkConfigSchema = z
  .object({
    type: z.literal('webhook'),
    url: HttpUrlSchema.describe('Receiver URL.'),
    secret: SecretRefSchema.optional().describe(
      'HMAC-SHA256 signing secret (env or file); unsigned without it.',
    ),
    ...common,
  })
  .strict()
  .describe('Each alert as a signed JSON POST.');

export const PagerDutySinkConfigSchema = z
  .object({
    type: z.literal('pagerduty'),
    url: HttpUrlSchema.default(PAGERDUTY_EVENTS_URL).describe('Events API v2 endpoint.'),
    routingKey: SecretRefSchema.describe('Integration (routing) key, from env or file.'),
    ...common,
  })
  .strict()
  .describe('PagerDuty Events API v2: trigger, and resolve when the condition clears; dedup_key = alert.id.');

export const SlackSinkConfigSchema = z
  .object({
    type: z.literal('slack'),
    url: SecretRefSchema.describe('Incoming webhook URL (it is a secret), from env or file.'),
    ...common,
  })
  .strict()
  .describe('Slack incoming webhook, with everything from logs escaped.');

export type WebhookSinkConfig = z.infer<typeof WebhookSinkConfigSchema>;
export type PagerDutySinkConfig = z.infer<typeof PagerDutySinkConfigSchema>;
export type SlackSinkConfig = z.infer<typeof SlackSinkConfigSchema>;
export type AnyWebhookConfig = WebhookSinkConfig | PagerDutySinkConfig | SlackSinkConfig;

/** Cross-field checks that need the environment: secrets that are unset or unreadable. */
export function webhookProblems(config: AnyWebhookConfig, env: NodeJS.ProcessEnv): string[] {
  if (config.type === 'webhook') return secretProblems(config.secret, env, 'secret');
  if (config.type === 'pagerduty') return secretProblems(config.routingKey, env, 'routingKey');
  const problems = secretProblems(config.url, env, 'url');
  if (problems.length === 0 && !URL.canParse(readSecret(config.url, env, 'url')))
    problems.push('url: the secret is not a URL');
  return problems;
}

const DELIVERED_MEMORY = 10_000;

export class WebhookSink implements Sink {
  readonly name: string;
  private readonly limiter: TokenBucket;
  private readonly request: (alert: Alert) => HttpRequest;
  private readonly endpoint: string;
  /** `id/status` of alerts delivered recently, oldest first (Map keeps insertion order). */
  private readonly delivered = new Map<string, true>();

  constructor(
    private readonly config: AnyWebhookConfig,
    private readonly ctx: SinkContext,
  ) {
    this.name = config.name ?? config.type;
    this.limiter = new TokenBucket(config.rateLimit.perSecond, config.rateLimit.burst);
    if (config.type === 'webhook') {
      const secret =
        config.secret === undefined ? null : readSecret(config.secret, ctx.env, `${this.name}: secret`);
      this.request = (a) => genericRequest(config.url, a, secret);
      this.endpoint = config.url;
    } else if (config.type === 'pagerduty') {
      const key = readSecret(config.routingKey, ctx.env, `${this.name}: routingKey`);
      this.request = (a) => pagerDutyRequest(config.url, a, key);
      this.endpoint = config.url;
    } else {
      const url = readSecret(config.url, ctx.env, `${this.name}: url`);
      this.request = (a) => slackRequest(url, a);
      this.endpoint = url;
    }
  }

  async start(): Promise<void> {}

  async write(batch: SinkBatch): Promise<void> {
    for (const alert of batch.alerts) {
      if (!routeMatches(this.config.route, alert)) continue;
      const key = `${alert.alert.id}/${alert.alert.status}`;
      if (this.delivered.has(key)) continue;
      const result = await deliver(this.request(alert), {
        retry: this.config.retry,
        timeoutMs: this.config.timeoutMs,
        limiter: this.limiter,
        signal: this.ctx.signal,
        onRetry: (attempt, reason) => {
          this.ctx.onRetry?.(this.name);
          this.ctx.log('warn', 'Webhook delivery will be retried.', {
            sink: this.name,
            attempt,
            error: reason,
          });
        },
      });
      if (result.outcome === 'exhausted' && this.config.onExhausted === 'pause') {
        throw new SentinelError(
          'ESN_SINK',
          `${this.name}: ${result.reason} (after ${result.attempts} attempts)`,
          {
            where: redactUrl(this.endpoint),
          },
        );
      }
      if (result.outcome !== 'delivered') {
        this.ctx.log('error', 'Webhook gave up on an alert; it was dead-lettered.', {
          sink: this.name,
          id: alert.alert.id,
          error: result.reason,
        });
        await this.ctx.deadLetter({
          component: this.name,
          reason: `${result.reason} (after ${result.attempts} attempts)`,
          origin: alert.alert.id,
          raw: alert,
        });
      }
      this.remember(key);
    }
  }

  private remember(key: string): void {
    this.delivered.set(key, true);
    if (this.delivered.size > DELIVERED_MEMORY) {
      const oldest = this.delivered.keys().next().value;
      if (oldest !== undefined) this.delivered.delete(oldest);
    }
  }

  async close(): Promise<void> {}
}

/** The three share the sink and its checks; they differ in type, schema and example. */
function webhookStyleSpec<S extends z.ZodType<AnyWebhookConfig>>(
  type: z.output<S>['type'],
  config: S,
  example: z.input<S>,
  redelivery: string,
): SinkSpec<S> {
  return {
    type,
    config,
    example,
    redelivery,
    create: (c, ctx) => new WebhookSink(c, ctx),
    defaultName: () => type,
    problems: webhookProblems,
  };
}

export const webhookSinkSpec = webhookStyleSpec(
  'webhook',
  WebhookSinkConfigSchema,
  {
    type: 'webhook',
    url: 'https://alerts.example.com/hook',
    secret: { env: 'WEBHOOK_SECRET' },
  },
  'each alert once per process; after a restart possibly again, with the same `X-Egress-Sentinel-Alert-Id`',
);

export const pagerDutySinkSpec = webhookStyleSpec(
  'pagerduty',
  PagerDutySinkConfigSchema,
  {
    type: 'pagerduty',
    routingKey: { env: 'PAGERDUTY_ROUTING_KEY' },
    route: { minSeverity: 'high' },
  },
  'the same `dedup_key` (`alert.id`): PagerDuty folds it into the open incident',
);

export const slackSinkSpec = webhookStyleSpec(
  'slack',
  SlackSinkConfigSchema,
  {
    type: 'slack',
    url: { env: 'SLACK_WEBHOOK_URL' },
  },
  'each alert once per process; after a restart possibly posted again (Slack does not de-duplicate)',
);
