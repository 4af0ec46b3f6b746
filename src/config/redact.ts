/**
 * Secrets out of everything a person or a log sees: URLs are shown without credentials, query
 * strings or (for webhooks, whose path is often the secret: Slack, Discord, Teams, PagerDuty-style
 * integrations) the path past its first segment; text from a remote party (a receiver's error
 * reply) has the secrets we sent it and anything token-like replaced, and is bounded.
 */

export interface RedactOptions {
  /** Keep the whole path (Elasticsearch and Kafka URLs); default: only its first segment. */
  readonly keepPath?: boolean;
}

/** `scheme://host[:port]/first/…`, or `(invalid url)`. Never the user, password, query or fragment. */
export function redactUrl(url: string, options: RedactOptions = {}): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(invalid url)';
  }
  const auth = u.username !== '' || u.password !== '' ? '***@' : '';
  let path = u.pathname;
  if (options.keepPath !== true) {
    const second = path.indexOf('/', 1);
    if (second > 0 && second < path.length - 1) path = `${path.slice(0, second)}/…`;
    else if (path.length > 1 && path.length > 24) path = '/…';
  }
  if (path === '/') path = '';
  return `${u.protocol}//${auth}${u.host}${path}`;
}

/** Runs of letters, digits, `_` and `-` long enough to be a key or token. */
const TOKEN = /[A-Za-z0-9_-]{24,}/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A remote party's text, safe to log and dead-letter: each of `secrets` (what we sent it: a routing
 * key, a URL, a signing secret) and every token-like run replaced by `[redacted]`, controls dropped,
 * cut to `max` characters. An echoing receiver put the PagerDuty routing key in its error reply.
 * `tokens` false: only `secrets` (text that names things by long ids, e.g. Kibana's per-object errors).
 */
export function scrubRemoteText(text: string, secrets: readonly string[], max = 200, tokens = true): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  if (tokens) out = out.replace(TOKEN, '[redacted]');
  out = out.replace(CONTROL, ' ');
  return out.length > max ? `${out.slice(0, max)}…` : out;
}
