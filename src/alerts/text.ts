/**
 * Alert text is built from what the workload chose (hosts, paths, SNI): before it reaches a person
 * (terminal table, Slack, a webhook, Kibana) it is made inert and bounded, once, where alerts are built.
 *  - Bidi controls (U+202A-202E, U+2066-2069, U+200E/F, U+061C) can make `evil.com` read as
 *    `moc.live`; zero-width characters (U+200B-200D, U+2060, U+FEFF, U+180E) hide a difference
 *    between two names; C0/C1 controls move a terminal's cursor. Each becomes a visible `<U+202E>`.
 *  - A string longer than its cap is cut and says how much was cut, so a 5 MB host cannot make a
 *    15 MB alert (the reason, the dedup key and the domain each carried it), which would never fit a
 *    Kafka message and block that sink.
 */

/** Caps, in UTF-16 code units: a DNS name is at most 253 bytes; paths and reasons get more room. */
export const MAX_NAME = 300;
export const MAX_TEXT = 2000;
/** Evidence arrays (request ids, examples) keep at most this many items. */
export const MAX_ITEMS = 50;

const INVISIBLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it replaces.
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

function visible(c: string): string {
  return `<U+${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}>`;
}

/** `s` with invisible/direction characters made visible, cut to `max` code units. */
export function safeText(s: string, max = MAX_TEXT): string {
  let out = s.length > max ? s.slice(0, max) : s;
  INVISIBLE.lastIndex = 0;
  if (INVISIBLE.test(out)) out = out.replace(INVISIBLE, visible);
  if (s.length > max) out = `${out}…(${s.length - max} more chars)`;
  return out;
}

export function safeName(s: string | null): string | null {
  return s === null ? null : safeText(s, MAX_NAME);
}

/** Evidence values: strings made safe, arrays and objects bounded (four levels deep; deeper is summarised). */
export function safeValue(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return safeText(v);
  if (v === null || typeof v !== 'object') return v;
  if (depth >= 4) return '[nested]';
  if (Array.isArray(v)) {
    const items = v.slice(0, MAX_ITEMS).map((x) => safeValue(x, depth + 1));
    if (v.length > MAX_ITEMS) items.push(`…(${v.length - MAX_ITEMS} more)`);
    return items;
  }
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (n++ >= MAX_ITEMS) break;
    // defineProperty: a key `__proto__` stays a key instead of setting the prototype.
    Object.defineProperty(out, safeText(k, MAX_NAME), {
      value: safeValue(x, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
