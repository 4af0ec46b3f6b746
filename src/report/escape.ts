/**
 * Everything in a report comes from logs, and logs are attacker-controlled (a host name can be
 * `<img src=x onerror=alert(1)>.evil.com`). All text goes through `escapeHtml` before it reaches the
 * page, in element content and in attribute values alike.
 */
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => ENTITIES[c] as string);
}

/** Shortens long attacker-chosen labels for the map (the full text stays in a tooltip). */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
