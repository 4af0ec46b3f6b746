import { describe, expect, it } from 'vitest';
import { escapeSlack, slackMessage } from '../../../src/sinks/webhook/slack.js';
import { makeAlert } from '../helpers.js';

describe('Slack escaping', () => {
  it('escapes the characters Slack treats as control sequences', () => {
    expect(escapeSlack('a&b<c>d')).toBe('a&amp;b&lt;c&gt;d');
  });

  it('turns an injected channel mention into inert text', () => {
    const out = escapeSlack('<!channel> evil.com');
    expect(out).not.toContain('<!channel>');
    expect(out).toBe('&lt;!channel&gt; evil.com');
  });

  it('breaks plain @here and @channel mentions', () => {
    expect(escapeSlack('ping @here and @channel')).not.toMatch(/@(here|channel)/);
  });

  it('breaks markdown and Slack link syntax', () => {
    expect(escapeSlack('[click](https://evil.example)')).not.toContain('](');
    expect(escapeSlack('<https://evil.example|click here>')).not.toContain('<');
  });

  it('keeps attacker-controlled host names out of the message markup', () => {
    const host = '<https://evil.example|Reset your password> @channel `x`.evil.com';
    const msg = slackMessage(
      makeAlert({
        destination: { domain: host, registered_domain: null, ip: null, port: 443 },
        reason: `app-a reached ${host} directly`,
      }),
    );
    const text = msg.blocks[0]?.text.text ?? '';
    expect(text).not.toContain('<https://');
    expect(text).not.toMatch(/@channel/);
    expect(text).toContain('&lt;https://evil.example|Reset your password&gt;');
    expect(msg.text).not.toContain('evil');
    expect(msg.unfurl_links).toBe(false);
    expect(msg.parse).toBe('none');
  });

  it('marks resolved alerts as resolved', () => {
    expect(slackMessage(makeAlert({ status: 'resolved' })).text).toMatch(/^Resolved/);
  });
});
