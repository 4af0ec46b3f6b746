/**
 * String matching as Istio's AuthorizationPolicy reads it: exact, prefix (`abc*`), suffix (`*abc`,
 * so `*.ibm.com` matches `a.ibm.com` and `a.b.ibm.com` but not `ibm.com`), and `*` alone matches any
 * non-empty value. Hosts compare case-insensitively and ignore a `:port`.
 *
 * Host names are the workload's to choose, so both sides are first put in the one form DNS and the
 * proxies resolve them to (canonicalHost): `EVIL.com`, `evil.com.` and ` evil.com ` all reach
 * evil.com and must all meet a DENY on it (they passed it: fail-open), and `bücher.de` is
 * `xn--bcher-kva.de` on the wire.
 */
import { canonicalHost } from '../identity/host-name.js';
import { FALSE, TRUE, type Tri, UNKNOWN } from './types.js';

export function istioMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return value.length > 0;
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}

/** canonicalHost without a `:port` (`Evil.COM.:443` -> `evil.com`). */
export function normaliseHost(host: string): string {
  const colon = host.lastIndexOf(':');
  return canonicalHost(
    colon > 0 && host.indexOf(':') === colon && /^\d+\s*$/.test(host.slice(colon + 1))
      ? host.slice(0, colon)
      : host,
  );
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
