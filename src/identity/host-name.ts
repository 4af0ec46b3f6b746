/**
 * Host names as DNS and the proxies resolve them, for matching and keys: the workload chooses the
 * spelling (SNI, :authority), so `EVIL.com`, `evil.com.` and ` evil.com ` must all be evil.com, and
 * `bücher.de` is `xn--bcher-kva.de` on the wire. Used once by the normaliser and by every matcher
 * (src/policy/match.ts) on both the pattern and the name.
 */
import { domainToASCII, domainToUnicode } from 'node:url';

/** Characters of a name already in canonical form (lower-case ASCII; `*` for patterns, `:[]` for ports and IPv6). */
function plainHostChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 42 ||
    c === 58 ||
    c === 91 ||
    c === 93
  );
}

/**
 * The canonical form of a host name (or pattern): trimmed, lower case, without the trailing dot of
 * a fully qualified name, internationalised labels in punycode (UTS #46, as resolvers and browsers
 * map them; Node's url.domainToASCII). Allocates nothing for a name already in that form.
 */
export function canonicalHost(host: string): string {
  const n = host.length;
  let plain = n > 0 && host.charCodeAt(n - 1) !== 46;
  for (let i = 0; plain && i < n; i++) plain = plainHostChar(host.charCodeAt(i));
  if (plain) return host;
  let h = host.trim().toLowerCase();
  while (h.length > 1 && h.endsWith('.')) h = h.slice(0, -1);
  for (let i = 0; i < h.length; i++) {
    if (h.charCodeAt(i) > 127) {
      // An invalid name ('' from domainToASCII) stays as written: it matches nothing it should not.
      const ascii = domainToASCII(h);
      if (ascii !== '') h = ascii;
      break;
    }
  }
  return h;
}

/** What an internationalised name looks like to a person, for the alert (null for an ASCII-only name). */
export interface HostLooks {
  /** The name as it is displayed (Unicode). */
  readonly unicode: string;
  /** Scripts of its letters, e.g. ['Cyrillic', 'Latin']. */
  readonly scripts: string[];
  /** One label mixes scripts (Japanese and Korean script mixes excepted). */
  readonly mixedScript: boolean;
  /** A label written only with non-Latin letters that look like Latin ones (`аррӏе`). */
  readonly latinLookalike: boolean;
}

const SCRIPTS: [string, RegExp][] = [
  ['Latin', /\p{Script=Latin}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['Armenian', /\p{Script=Armenian}/u],
  ['Hebrew', /\p{Script=Hebrew}/u],
  ['Arabic', /\p{Script=Arabic}/u],
  ['Han', /\p{Script=Han}/u],
  ['Hiragana', /\p{Script=Hiragana}/u],
  ['Katakana', /\p{Script=Katakana}/u],
  ['Hangul', /\p{Script=Hangul}/u],
  ['Thai', /\p{Script=Thai}/u],
  ['Devanagari', /\p{Script=Devanagari}/u],
  ['Cherokee', /\p{Script=Cherokee}/u],
];
const CJK = new Set(['Han', 'Hiragana', 'Katakana', 'Hangul']);
/** Cyrillic, Greek and Armenian letters that render like Latin ones (a subset of Unicode's confusables). */
const LATIN_LOOKALIKES = new Set([...'аеорсухіјѕԁһӏԛԝьвкмнтпгзαβεικνορτυχωյհոսօ']);

function scriptOf(ch: string): string {
  for (const [name, re] of SCRIPTS) if (re.test(ch)) return name;
  return 'Other';
}

/** How a host with punycode labels displays; null when it has none. */
export function hostLooks(host: string): HostLooks | null {
  if (!host.includes('xn--')) return null;
  const unicode = domainToUnicode(host);
  if (unicode === '' || unicode === host) return null;
  const all = new Set<string>();
  let mixedScript = false;
  let latinLookalike = false;
  for (const label of unicode.split('.')) {
    const scripts = new Set<string>();
    let letters = 0;
    let lookalikes = 0;
    for (const ch of label) {
      if (!/\p{L}/u.test(ch)) continue;
      letters++;
      scripts.add(scriptOf(ch));
      if (LATIN_LOOKALIKES.has(ch)) lookalikes++;
    }
    for (const s of scripts) all.add(s);
    const nonCjk = [...scripts].filter((s) => !CJK.has(s));
    if (nonCjk.length > 1 || (nonCjk.length === 1 && scripts.size > nonCjk.length)) mixedScript = true;
    if (letters > 0 && lookalikes === letters && !scripts.has('Latin')) latinLookalike = true;
  }
  return { unicode, scripts: [...all].sort(), mixedScript, latinLookalike };
}
