/**
 * The self-contained HTML report: inline CSS and one inline script (allowed by its hash in the
 * Content-Security-Policy, so nothing injected could run even if escaping failed), no external URLs.
 */
import { createHash } from 'node:crypto';
import type { Alert } from '../alerts/types.js';
import { escapeHtml } from './escape.js';
import { destinationLabel, firedAt, type ReportModel, resolvedAt, sourceLabel } from './model.js';
import { egressMap, SEVERITY_COLOUR, timelines } from './svg.js';
import { evidenceFields, humanCount } from './units.js';

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:24px;background:#0d1117;color:#e6edf3}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#8b949e}.empty{color:#8b949e}
.cards{display:flex;gap:12px;margin:16px 0}.card{background:#161b22;border:1px solid #30363d;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:20px}
svg text{fill:#e6edf3;font-size:12px}svg .head{fill:#8b949e;font-weight:600}svg .hot{fill:#f85149;font-weight:600}
svg .tick{fill:#8b949e;font-size:11px}svg .axis{stroke:#30363d;stroke-width:2}svg .edge{opacity:.55}svg .edge.alerted{opacity:.95}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #30363d;padding:5px 8px;text-align:left;vertical-align:top}
th{color:#8b949e;font-weight:600}td.reason{max-width:520px}
.sev{border-radius:10px;padding:1px 8px;color:#0d1117;font-weight:600}
details pre{white-space:pre-wrap;word-break:break-all;background:#161b22;padding:6px;margin:4px 0}
dl.evidence{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:4px 0;background:#161b22;padding:6px}
dl.evidence dt{color:#8b949e}dl.evidence dd{margin:0;word-break:break-all}
td.num{text-align:right}.status-resolved{color:#3fb950}.status-firing{color:#f85149}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;color:#8b949e;margin:8px 0}.legend span.swatch{display:inline-block;width:22px;height:4px;vertical-align:middle;margin-right:6px}
.legend dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:0}.legend dt{color:#e6edf3}.legend dd{margin:0}
input{background:#0d1117;color:#e6edf3;border:1px solid #30363d;border-radius:6px;padding:5px 8px;width:320px}
`;

// Filters table rows by text; reads and writes text only (never innerHTML).
const SCRIPT = `
document.getElementById('filter').addEventListener('input', function (ev) {
  var q = ev.target.value.toLowerCase();
  var rows = document.querySelectorAll('#alerts tbody tr');
  var shown = 0;
  rows.forEach(function (row) { var hit = row.textContent.toLowerCase().indexOf(q) >= 0; row.hidden = !hit; if (hit) shown++; });
  document.getElementById('shown').textContent = String(shown);
});
`;

function time(iso: string | null): string {
  return iso === null ? '' : iso.slice(0, 19).replace('T', ' ');
}

function evidence(a: Alert): string {
  const fields = evidenceFields(a.evidence);
  if (fields.length === 0) return '';
  const rows = fields.map((f) => `<dt>${escapeHtml(f.label)}</dt><dd>${escapeHtml(f.value)}</dd>`).join('');
  return `<details><summary>evidence</summary><dl class="evidence">${rows}</dl></details>`;
}

function alertRow(a: Alert, records: number): string {
  const dest = destinationLabel(a.destination ?? null);
  const colour = SEVERITY_COLOUR[a.severity] ?? '#8b949e';
  const status = a.alert?.status === 'resolved' ? 'resolved' : 'firing';
  return (
    `<tr><td>${escapeHtml(time(firedAt(a)))}</td><td>${escapeHtml(time(resolvedAt(a)))}</td>` +
    `<td class="status-${status}">${status}</td>` +
    `<td class="num" title="${escapeHtml(`${records} records of this alert in the input`)}">${escapeHtml(humanCount(a.alert?.repeats ?? 0))}</td>` +
    `<td>${escapeHtml(a.rule.id)}</td>` +
    `<td><span class="sev" style="background:${colour}">${escapeHtml(a.severity)}</span></td>` +
    `<td>${escapeHtml(sourceLabel(a.source))}</td><td>${escapeHtml(dest)}</td>` +
    `<td class="reason">${escapeHtml(a.reason)}${evidence(a)}</td></tr>`
  );
}

function legend(): string {
  const swatches = (['critical', 'high', 'medium', 'low'] as const)
    .map((s) => `<span><span class="swatch" style="background:${SEVERITY_COLOUR[s]}"></span>${s}</span>`)
    .join('');
  return `<div class="legend">${swatches}<span><span class="swatch" style="background:#8b949e"></span>no alert</span></div>
<div class="legend"><dl>
<dt>map</dt><dd>one curve per source → destination pair, coloured by its worst alert, thicker with more connections; many quiet hosts under one domain are drawn as one</dd>
<dt>fired</dt><dd>when the condition was first seen (event time, UTC)</dd>
<dt>resolved</dt><dd>when it cleared (conditions that can clear, such as gateway silence); empty while it stands</dd>
<dt>status</dt><dd>firing: standing at the end of the input; resolved: cleared</dd>
<dt>repeats</dt><dd>further occurrences counted on this alert within its realert window instead of alerting again</dd>
<dt>evidence</dt><dd>the numbers behind the alert: baseline and observed value, policy and rule, sample requests</dd>
</dl></div>`;
}

export function renderReport(model: ReportModel): string {
  const counts = { critical: 0, high: 0, medium: 0, low: 0 };
  for (const a of model.alerts) if (a.severity in counts) counts[a.severity]++;
  const hash = createHash('sha256').update(SCRIPT).digest('base64');
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${hash}'; img-src data:`;
  const skipped = model.skipped.count
    ? `<p class="meta">Skipped ${model.skipped.count} unreadable lines (${escapeHtml(model.skipped.examples.join(', '))}).</p>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(model.title)}</title><style>${CSS}</style></head>
<body>
<h1>${escapeHtml(model.title)}</h1>
<p class="meta">${escapeHtml(new Date(model.from).toISOString())} to ${escapeHtml(new Date(model.to).toISOString())}</p>
${skipped}
<div class="cards"><div class="card"><b>${model.alerts.length}</b>alerts (${model.records} records)</div>${(
    ['critical', 'high', 'medium', 'low'] as const
  )
    .map((s) => `<div class="card"><b style="color:${SEVERITY_COLOUR[s]}">${counts[s]}</b>${s}</div>`)
    .join('')}<div class="card"><b>${model.edges.length}</b>source → destination pairs</div></div>
<h2>Egress map</h2>
${legend()}
${egressMap(model)}
<h2>Alerts over time, per rule</h2>
${timelines(model)}
<h2>Alerts (<span id="shown">${model.alerts.length}</span>)</h2>
<p><input id="filter" type="search" placeholder="Filter by rule, source, destination, reason"></p>
<p class="meta">One row per alert: its latest record (${model.records} records for ${model.alerts.length} alerts in the input: a standing alert is written again as its repeats grow and when it resolves).</p>
<table id="alerts"><thead><tr><th>fired (UTC)</th><th>resolved (UTC)</th><th>status</th><th>repeats</th><th>rule</th><th>severity</th><th>source</th><th>destination</th><th>reason and evidence</th></tr></thead>
<tbody>${model.alerts.map((a) => alertRow(a, model.recordsPerId.get(a.alert?.id) ?? 1)).join('\n')}</tbody></table>
<script>${SCRIPT}</script>
</body></html>
`;
}
