/**
 * Timestamps in access lines. Envoy's default %START_TIME% is `2024-01-09T15:35:47.283Z`; the
 * hand parser reads that shape (and any fraction length or a numeric offset) straight from the
 * line's characters without slicing, and falls back to Date.parse for anything else.
 * Measured on this machine it is several times faster than `Date.parse(line.slice(a, b))`.
 */

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(at + i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Parses an RFC 3339 / ISO 8601 time in `s[start, end)`; NaN when it is not one. */
export function parseIsoTime(s: string, start: number, end: number): number {
  if (end - start >= 20 && s.charCodeAt(start + 4) === 45 && s.charCodeAt(start + 10) === 84) {
    const y = digits(s, start, 4);
    const mo = digits(s, start + 5, 2);
    const d = digits(s, start + 8, 2);
    const h = digits(s, start + 11, 2);
    const mi = digits(s, start + 14, 2);
    const se = digits(s, start + 17, 2);
    if (
      y >= 0 &&
      mo >= 1 &&
      mo <= 12 &&
      d >= 1 &&
      d <= 31 &&
      h >= 0 &&
      h < 24 &&
      mi >= 0 &&
      mi < 60 &&
      se >= 0 &&
      se < 61
    ) {
      let i = start + 19;
      let ms = 0;
      if (s.charCodeAt(i) === 46) {
        i++;
        let scale = 100;
        while (i < end) {
          const c = s.charCodeAt(i) - 48;
          if (c < 0 || c > 9) break;
          ms += c * scale;
          scale /= 10;
          i++;
        }
        ms = Math.floor(ms);
      }
      let offsetMin = 0;
      const z = s.charCodeAt(i);
      if (z === 90 && i + 1 === end) {
        // Z
      } else if ((z === 43 || z === 45) && end - i >= 5) {
        const oh = digits(s, i + 1, 2);
        const om = s.charCodeAt(i + 3) === 58 ? digits(s, i + 4, 2) : digits(s, i + 3, 2);
        if (oh < 0 || om < 0) return Number.NaN;
        offsetMin = (z === 43 ? 1 : -1) * (oh * 60 + om);
      } else {
        return Date.parse(s.slice(start, end));
      }
      // Lines arrive in date order: remember the last date's day number.
      const dateKey = y * 10000 + mo * 100 + d;
      if (dateKey !== lastDateKey) {
        lastDateKey = dateKey;
        lastDays = daysFromCivil(y, mo, d);
      }
      return (lastDays * 86400 + h * 3600 + mi * 60 + se) * 1000 + ms - offsetMin * 60000;
    }
  }
  return Date.parse(s.slice(start, end));
}

let lastDateKey = -1;
let lastDays = 0;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * A parser for one strftime pattern as used in `%START_TIME(<pattern>)%`. Supports %Y %m %d %H %M
 * %S %b %e %z %s %f / %Nf (fraction digits) and %T %F; other conversions make the compile fail so
 * the user learns at config time, not per line.
 */
export type StrftimeParser = (value: string) => number;

export function compileStrftime(pattern: string): StrftimeParser {
  let re = '';
  const groups: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch !== '%') {
      re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      continue;
    }
    let spec = pattern[++i] ?? '';
    if (spec >= '1' && spec <= '9' && pattern[i + 1] === 'f') {
      i++;
      spec = 'f';
    }
    const add = (name: string, body: string): void => {
      groups.push(name);
      re += `(${body})`;
    };
    switch (spec) {
      case 'Y':
        add('Y', '\\d{4}');
        break;
      case 'm':
        add('m', '\\d{1,2}');
        break;
      case 'd':
        add('d', '\\d{1,2}');
        break;
      case 'e':
        add('d', ' ?\\d{1,2}');
        break;
      case 'H':
        add('H', '\\d{1,2}');
        break;
      case 'M':
        add('M', '\\d{1,2}');
        break;
      case 'S':
        add('S', '\\d{1,2}');
        break;
      case 'f':
        add('f', '\\d+');
        break;
      case 'z':
        add('z', '[+-]\\d{2}:?\\d{2}|Z');
        break;
      case 's':
        add('s', '\\d+');
        break;
      case 'b':
        add('b', '[A-Za-z]{3}');
        break;
      case 'T':
        add('H', '\\d{2}');
        re += ':';
        add('M', '\\d{2}');
        re += ':';
        add('S', '\\d{2}');
        break;
      case 'F':
        add('Y', '\\d{4}');
        re += '-';
        add('m', '\\d{2}');
        re += '-';
        add('d', '\\d{2}');
        break;
      case '%':
        re += '%';
        break;
      default:
        throw new Error(`unsupported strftime conversion %${spec} in START_TIME(${pattern})`);
    }
  }
  const matcher = new RegExp(`^${re}$`);
  return (value: string): number => {
    const m = matcher.exec(value);
    if (m === null) return Number.NaN;
    let y = 1970,
      mo = 1,
      d = 1,
      h = 0,
      mi = 0,
      se = 0,
      ms = 0,
      off = 0,
      epoch = Number.NaN;
    for (let g = 0; g < groups.length; g++) {
      const v = m[g + 1] as string;
      switch (groups[g]) {
        case 's':
          // Epoch seconds; a later %f (`%s.%3f`) still adds the fraction.
          epoch = Number(v);
          break;
        case 'Y':
          y = Number(v);
          break;
        case 'm':
          mo = Number(v);
          break;
        case 'd':
          d = Number(v.trim());
          break;
        case 'H':
          h = Number(v);
          break;
        case 'M':
          mi = Number(v);
          break;
        case 'S':
          se = Number(v);
          break;
        case 'f':
          // First three digits as an integer: Number(`0.${v}`) * 1000 can land just below the integer.
          ms = Number(`${v}00`.slice(0, 3));
          break;
        case 'b':
          mo = MONTHS.indexOf(v.toLowerCase()) + 1;
          break;
        case 'z': {
          if (v !== 'Z') {
            const sign = v[0] === '-' ? -1 : 1;
            const body = v.slice(1).replace(':', '');
            off = sign * (Number(body.slice(0, 2)) * 60 + Number(body.slice(2)));
          }
          break;
        }
      }
    }
    if (!Number.isNaN(epoch)) return epoch * 1000 + ms;
    if (mo < 1) return Number.NaN;
    return (daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1000 + ms - off * 60000;
  };
}
