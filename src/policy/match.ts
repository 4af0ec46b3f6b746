/**
 * String matching as Istio's AuthorizationPolicy reads it: exact, prefix (`abc*`), suffix (`*abc`,
 * so `*.ibm.com` matches `a.ibm.com` and `a.b.ibm.com` but not `ibm.com`), and `*` alone matches any
 * non-empty value. Hosts compare case-insensitively and ignore a `:port`.
 */
import { FALSE, TRUE, type Tri, UNKNOWN } from './types.js';

export function istioMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return value.length > 0;
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}

export function normaliseHost(host: string): string {
  const lower = host.toLowerCase();
  const colon = lower.lastIndexOf(':');
  return colon > 0 && lower.indexOf(':') === colon && /^\d+$/.test(lower.slice(colon + 1))
    ? lower.slice(0, colon)
    : lower;
}

export function hostMatch(pattern: string, host: string): boolean {
  return istioMatch(normaliseHost(pattern), normaliseHost(host));
}

/**
 * A positive field (`principals: [...]`): true when absent from the rule; unknown when the log does
 * not tell; false when the value is known to be absent.
 */
export function matchAny(
  patterns: readonly string[] | undefined,
  value: string | null | undefined,
  match: (p: string, v: string) => boolean = istioMatch,
): Tri {
  if (patterns === undefined) return TRUE;
  if (value === undefined) return UNKNOWN;
  if (value === null) return FALSE;
  for (const p of patterns) if (match(p, value)) return TRUE;
  return FALSE;
}

/** A negative field (`notPrincipals: [...]`). */
export function matchNone(
  patterns: readonly string[] | undefined,
  value: string | null | undefined,
  match: (p: string, v: string) => boolean = istioMatch,
): Tri {
  if (patterns === undefined) return TRUE;
  if (value === undefined) return UNKNOWN;
  if (value === null) return TRUE;
  for (const p of patterns) if (match(p, value)) return FALSE;
  return TRUE;
}
