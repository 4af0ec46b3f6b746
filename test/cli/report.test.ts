/**
 * replay then report, as a user runs them on real-shaped traffic: replay writes several records per
 * standing alert and, with --flows, the flows of all traffic; report shows one row per alert id and
 * a map of every pair, not only the alerted ones.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/types.js';
import type { FlowDoc } from '../../src/report/flows.js';
import { cli, ensureBuilt, ROOT } from '../helpers/built-cli.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egress-sentinel-report-cli-'));
}, 240_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('replay --flows, then report', () => {
  it('reports each alert once and maps all the traffic', () => {
    const traffic = join(dir, 'traffic.log');
    expect(
      cli(['simulate', '--duration', '3h', '--seed', '7', '--attack', 'all', '--to', traffic]).status,
    ).toBe(0);
    const alertsFile = join(dir, 'alerts.jsonl');
    const flowsFile = join(dir, 'flows.jsonl');
    const policy = join(ROOT, 'deploy/istio/authorization-policy.yaml');
    const replay = cli(['replay', '--policy', policy, '--alerts', alertsFile, '--flows', flowsFile, traffic]);
    expect(replay.status, replay.stderr).toBe(0);
    const records = readFileSync(alertsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Alert);
    const ids = new Set(records.map((a) => a.alert.id));
    expect(records.length).toBeGreaterThan(ids.size); // standing alerts were re-emitted
    const flows = readFileSync(flowsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as FlowDoc);
    expect(replay.stderr).toContain(`flows: ${flows.length} written to ${flowsFile}`);
    for (const f of flows) expect(['inbound', 'internal']).not.toContain(f.network.path);

    const out = join(dir, 'report.html');
    const report = cli(['report', '--alerts', alertsFile, '--events', flowsFile, '--out', out]);
    expect(report.status, report.stderr).toBe(0);
    expect(report.stderr).toContain(`report: ${ids.size} alerts (from ${records.length} records`);
    const html = readFileSync(out, 'utf8');
    expect(html.match(/<tr><td>/g)).toHaveLength(ids.size);
    const quiet = html.match(/<path class="edge"/g)?.length ?? 0;
    const alerted = html.match(/<path class="edge alerted"/g)?.length ?? 0;
    expect(quiet).toBeGreaterThan(0);
    expect(alerted).toBeGreaterThan(0);
    const critical = new Set(records.filter((a) => a.severity === 'critical').map((a) => a.alert.id)).size;
    expect(html).toContain(`<b style="color:#f85149">${critical}</b>critical`);
  }, 120_000);
});
