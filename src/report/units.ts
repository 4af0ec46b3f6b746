/**
 * Numbers for people: bytes in KiB/MiB/GiB, durations in s/min/h, counts with thousands separators,
 * and an alert's evidence as labelled fields (`bytesUp: 42439` -> `bytes up: 41.4 KiB`).
 */

export function humanBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const sign = n < 0 ? '-' : '';
  return u === 0 ? `${sign}${v} B` : `${sign}${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const s = ms / 1000;
  if (Math.abs(s) < 1) return `${Math.round(ms)} ms`;
  if (Math.abs(s) < 90) return `${Number(s.toFixed(s < 10 ? 1 : 0))} s`;
  const min = s / 60;
  if (Math.abs(min) < 90) return `${Number(min.toFixed(min < 10 ? 1 : 0))} min`;
  const h = min / 60;
  if (Math.abs(h) < 48) return `${Number(h.toFixed(h < 10 ? 1 : 0))} h`;
  return `${Number((h / 24).toFixed(1))} d`;
}

export function humanCount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : Number(n.toPrecision(4)).toLocaleString('en-US');
}

/** `bytesUp` -> `bytes up`, `windowMs` -> `window`, `httpPath` -> `http path`. */
export function fieldLabel(key: string): string {
  return key
    .replace(/Ms$/, '')
    .replace(/_/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase();
}

const MAX_LIST = 8;

function formatValue(key: string, value: unknown): string {
  if (typeof value === 'number') {
    if (/bytes/i.test(key)) return humanBytes(value);
    if (/Ms$/.test(key) || /^(ms|millis)/i.test(key)) return humanDuration(value);
    if (/ratio|share|fraction/i.test(key) && value >= 0 && value <= 1)
      return `${Number((value * 100).toFixed(1))} %`;
    return humanCount(value);
  }
  if (Array.isArray(value)) {
    const shown = value
      .slice(0, MAX_LIST)
      .map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v)));
    return value.length > MAX_LIST
      ? `${shown.join(', ')} (+${value.length - MAX_LIST} more)`
      : shown.join(', ');
  }
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** The evidence as (label, value) pairs, empty values left out, in the order the detector wrote them. */
export function evidenceFields(
  evidence: Record<string, unknown> | undefined,
): { label: string; value: string }[] {
  return Object.entries(evidence ?? {})
    .filter(([, v]) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => ({ label: fieldLabel(k), value: formatValue(k, v) }));
}
