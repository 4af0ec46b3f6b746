/**
 * Slack incoming webhooks. Everything that came from logs (host names, workload names, the
 * reason, which quotes them) is attacker-controlled: a workload can request `<!channel>` or
 * `<https://evil|click here>` as a host name. So before it goes into a message we escape `&`, `<`,
 * `>` (Slack's control characters), break `@channel`/`@here`/`@everyone` style mentions, break
 * markdown link syntax `[text](url)`, and strip backticks so values stay inside their code spans;
 * and the message turns off link unfurling and mention parsing.
 */
import type { Alert } from '../../alerts/types.js';
import type { HttpRequest } from './retry.js';

const ZWSP = '\u200b';

/** Makes text from logs inert in Slack mrkdwn. */
export function escapeSlack(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/`/g, "'")
    .replace(/@(?=(channel|here|everyone|group)\b)/gi, `@${ZWSP}`)
    .replace(/\]\(/g, `]${ZWSP}(`)
    .replace(/[\r\n]+/g, ' ');
}

/** An inert value inside an inline code span (so host names do not auto-link). */
function code(value: string | number | null): string {
  return value === null ? '_none_' : `\`${escapeSlack(String(value)).slice(0, 300)}\``;
}

const SEVERITY_MARK: Record<Alert['severity'], string> = {
  critical: ':red_circle:',
  high: ':large_orange_circle:',
  medium: ':large_yellow_circle:',
  low: ':white_circle:',
};

export interface SlackMessage {
  text: string;
  blocks: Array<{ type: 'section'; text: { type: 'mrkdwn'; text: string } }>;
  unfurl_links: false;
  unfurl_media: false;
  parse: 'none';
}

export function slackMessage(alert: Alert): SlackMessage {
  const resolved = alert.alert.status === 'resolved';
  const title = `${resolved ? ':white_check_mark: Resolved' : SEVERITY_MARK[alert.severity]} *${alert.severity.toUpperCase()}* ${escapeSlack(alert.rule.name)}`;
  const lines = [
    title,
    escapeSlack(alert.reason).slice(0, 2000),
    `*Source:* ${code(alert.source.namespace)} / ${code(alert.source.workload ?? alert.source.principal ?? alert.source.ip)}`,
    `*Destination:* ${code(alert.destination.domain ?? alert.destination.ip)} port ${code(alert.destination.port)} via ${code(alert.network.path)}`,
    `*Alert:* ${code(alert.alert.id)} first seen ${code(alert.alert.first_seen)}${alert.alert.repeats > 0 ? `, ${alert.alert.repeats} repeats` : ''}`,
  ];
  return {
    // The fallback text (notifications) is plain: rule, severity and id only, never log content.
    text: `${resolved ? 'Resolved' : alert.severity.toUpperCase()}: ${alert.rule.id} (${alert.alert.id})`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }],
    unfurl_links: false,
    unfurl_media: false,
    parse: 'none',
  };
}

export function slackRequest(url: string, alert: Alert): HttpRequest {
  return {
    url,
    body: JSON.stringify(slackMessage(alert)),
    headers: () => ({ 'user-agent': 'egress-sentinel' }),
  };
}
