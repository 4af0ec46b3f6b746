/** SPIFFE ids as Istio issues them: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */

export interface SpiffeId {
  readonly id: string;
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const cache = new Map<string, SpiffeId | null>();

export function parseSpiffe(id: string): SpiffeId | null {
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  const parsed =
    m === null
      ? null
      : {
          id,
          trustDomain: m[1] as string,
          namespace: m[2] as string,
          serviceAccount: m[3] as string,
        };
  if (cache.size >= 10000) cache.clear();
  cache.set(id, parsed);
  return parsed;
}

/** %DOWNSTREAM_PEER_URI_SAN% may list several SANs separated by commas: the first SPIFFE one. */
export function firstSpiffeSan(sans: string | null): string | null {
  if (sans === null || !sans.startsWith('spiffe://')) {
    if (sans === null) return null;
    const at = sans.indexOf('spiffe://');
    if (at < 0) return null;
    sans = sans.slice(at);
  }
  const comma = sans.indexOf(',');
  return comma < 0 ? sans : sans.slice(0, comma).trim();
}
