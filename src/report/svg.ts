/**
 * The report's drawings, as inline SVG built from strings: the egress map (sources on the left,
 * destinations on the right, one curve per pair, alerted pairs in their severity's colour) and one
 * timeline per rule. Every label passes through escapeHtml.
 */
import type { Alert, Severity } from '../alerts/types.js';
import { escapeHtml, shorten } from './escape.js';
import { type Edge, firedAt, type ReportModel, resolvedAt } from './model.js';
import { humanBytes, humanCount } from './units.js';

export const SEVERITY_COLOUR: Record<Severity, string> = {
  low: '#2f81f7',
  medium: '#d29922',
  high: '#f0883e',
  critical: '#f85149',
};
const QUIET = '#8b949e';
const ROW = 22;

/**
 * Quiet pairs of one source to many hosts under one registrable domain (a subdomain spray, a CDN),
 * or to many bare IP addresses (probing), become one edge, so they cannot crowd out the rest.
 */
export function rollUp(edges: readonly Edge[], maxHosts = 5): Edge[] {
  const groups = new Map<string, Edge[]>();
  for (const e of edges) {
    const ipOnly = e.registeredDomain === null && /^[\d.:[\]a-f]+$/i.test(e.destination);
    const key =
      e.registeredDomain !== null
        ? `${e.source}\u0000${e.registeredDomain}`
        : ipOnly
          ? `${e.source}\u0000(ip)`
          : `\u0000${e.source}\u0000${e.destination}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const out: Edge[] = [];
  for (const group of groups.values()) {
    const first = group[0] as Edge;
    if (group.length <= maxHosts) out.push(...group);
    else
      out.push({
        source: first.source,
        destination:
          first.registeredDomain === null
            ? `${group.length} IP addresses`
            : `${group.length} hosts under ${first.registeredDomain}`,
        registeredDomain: first.registeredDomain,
        connections: group.reduce((n, e) => n + e.connections, 0),
        bytesUp: group.reduce((n, e) => n + e.bytesUp, 0),
        alerted: null,
        rules: new Set(),
      });
  }
  return out;
}

/** The pairs worth drawing: every alerted one, then the busiest, up to `limit`. */
export function mapEdges(edges: readonly Edge[], limit = 60): Edge[] {
  const alerted = edges.filter((e) => e.alerted !== null);
  const quiet = rollUp(edges.filter((e) => e.alerted === null))
    .filter((e) => e.alerted === null)
    .sort((a, b) => b.connections - a.connections || a.destination.localeCompare(b.destination));
  return [...alerted, ...quiet.slice(0, Math.max(0, limit - alerted.length))];
}

export function egressMap(model: ReportModel): string {
  const edges = mapEdges(model.edges);
  if (edges.length === 0) return '<p class="empty">No traffic or alerts to draw.</p>';
  const sources = [...new Set(edges.map((e) => e.source))].sort();
  const dests = [...new Set(edges.map((e) => e.destination))].sort((a, b) => {
    const alertedA = edges.some((e) => e.destination === a && e.alerted) ? 0 : 1;
    const alertedB = edges.some((e) => e.destination === b && e.alerted) ? 0 : 1;
    return alertedA - alertedB || a.localeCompare(b);
  });
  const rows = Math.max(sources.length, dests.length);
  const height = rows * ROW + 30;
  // The shorter column is centred against the longer one.
  const sy = (s: string) => 30 + ((rows - sources.length) * ROW) / 2 + sources.indexOf(s) * ROW;
  const dy = (d: string) => 30 + ((rows - dests.length) * ROW) / 2 + dests.indexOf(d) * ROW;
  const x1 = 250;
  const x2 = 640;
  const parts: string[] = [];
  parts.push(
    `<text x="${x1}" y="14" text-anchor="end" class="head">source</text><text x="${x2}" y="14" class="head">destination</text>`,
  );
  for (const e of [...edges].sort((a, b) => Number(a.alerted !== null) - Number(b.alerted !== null))) {
    const ya = sy(e.source);
    const yb = dy(e.destination);
    const colour = e.alerted ? SEVERITY_COLOUR[e.alerted] : QUIET;
    const width = Math.min(8, 1 + Math.log10(e.connections + 1));
    const tip = `${e.source} → ${e.destination}: ${humanCount(e.connections)} connections, ${humanBytes(e.bytesUp)} up${e.rules.size ? `; alerts: ${[...e.rules].join(', ')}` : ''}`;
    parts.push(
      `<path class="edge${e.alerted ? ' alerted' : ''}" d="M${x1 + 6},${ya} C${(x1 + x2) / 2},${ya} ${(x1 + x2) / 2},${yb} ${x2 - 6},${yb}" stroke="${colour}" stroke-width="${width.toFixed(1)}" fill="none"><title>${escapeHtml(tip)}</title></path>`,
    );
  }
  for (const s of sources) {
    const hot = edges.some((e) => e.source === s && e.alerted);
    parts.push(
      `<text x="${x1}" y="${sy(s) + 4}" text-anchor="end" class="node${hot ? ' hot' : ''}"><title>${escapeHtml(s)}</title>${escapeHtml(shorten(s, 36))}</text>`,
    );
  }
  for (const d of dests) {
    const hot = edges.some((e) => e.destination === d && e.alerted);
    parts.push(
      `<text x="${x2}" y="${dy(d) + 4}" class="node${hot ? ' hot' : ''}"><title>${escapeHtml(d)}</title>${escapeHtml(shorten(d, 48))}</text>`,
    );
  }
  return `<svg class="map" viewBox="0 0 960 ${height}" width="960" height="${height}" role="img" aria-label="Egress map">${parts.join('')}</svg>`;
}

function tick(time: number): string {
  return new Date(time).toISOString().slice(0, 16).replace('T', ' ');
}

export function timelines(model: ReportModel): string {
  const byRule = new Map<string, Alert[]>();
  for (const a of model.alerts) byRule.set(a.rule.id, [...(byRule.get(a.rule.id) ?? []), a]);
  if (byRule.size === 0) return '<p class="empty">No alerts.</p>';
  const x0 = 190;
  const x1 = 940;
  const span = model.to - model.from;
  const x = (t: number) => x0 + ((t - model.from) / span) * (x1 - x0);
  const rows: string[] = [];
  let y = 20;
  for (const [rule, alerts] of [...byRule].sort((a, b) => a[0].localeCompare(b[0]))) {
    rows.push(
      `<text x="${x0 - 10}" y="${y + 4}" text-anchor="end" class="node">${escapeHtml(rule)} (${alerts.length})</text>`,
    );
    rows.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" class="axis"/>`);
    for (const a of alerts) {
      // Drawn when it fired; a resolved alert as a bar to when it resolved.
      const fired = firedAt(a);
      const resolved = resolvedAt(a);
      const t = Date.parse(fired);
      const colour = SEVERITY_COLOUR[a.severity] ?? QUIET;
      const tip = `${fired} ${a.severity}${resolved ? ` (resolved ${resolved})` : ''}: ${a.reason}`;
      if (resolved !== null)
        rows.push(
          `<line x1="${x(t).toFixed(1)}" y1="${y}" x2="${x(Date.parse(resolved)).toFixed(1)}" y2="${y}" stroke="${colour}" stroke-width="4"/>`,
        );
      rows.push(
        `<circle cx="${x(t).toFixed(1)}" cy="${y}" r="5" fill="${colour}"><title>${escapeHtml(tip)}</title></circle>`,
      );
    }
    y += 26;
  }
  rows.push(`<text x="${x0}" y="${y + 6}" class="tick">${tick(model.from)}</text>`);
  rows.push(`<text x="${x1}" y="${y + 6}" text-anchor="end" class="tick">${tick(model.to)}</text>`);
  return `<svg class="timeline" viewBox="0 0 960 ${y + 16}" width="960" height="${y + 16}" role="img" aria-label="Alerts over time per rule">${rows.join('')}</svg>`;
}
