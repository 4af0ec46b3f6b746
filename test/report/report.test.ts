import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../../src/report/escape.js';
import { renderReport } from '../../src/report/html.js';
import { buildModel, type Edge } from '../../src/report/model.js';
import { mapEdges } from '../../src/report/svg.js';

const FIXTURES = 'test/fixtures/report';
const model = buildModel(`${FIXTURES}/alerts.jsonl`, `${FIXTURES}/flows.jsonl`, 'Demo <b>day</b>');
const html = renderReport(model);

describe('report', () => {
  it('escapes the characters that could open markup or leave an attribute', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\``)).toBe(
      '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;',
    );
  });

  it('reads alerts and flows, counting the unreadable line with its place', () => {
    expect(model.alerts).toHaveLength(4);
    expect(model.skipped).toEqual({ count: 1, examples: [`${FIXTURES}/alerts.jsonl:5`] });
    const ibm = model.edges.find((e) => e.destination === 'api.ibm.com');
    expect(ibm).toMatchObject({
      source: 'app-a/app-a',
      connections: 1200,
      bytesUp: 3_000_000,
      alerted: null,
    });
    const mongo = model.edges.find(
      (e) => e.source === 'app-a/app-a' && e.destination === 'mongo1.composedb.com',
    );
    expect(mongo?.alerted).toBe('high');
    expect(model.edges.find((e) => e.destination === '104.1.2.3:443')?.alerted).toBe('critical');
  });

  it('never lets attacker-controlled text through as markup', () => {
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<script>alert(2)');
    expect(html).not.toContain('<svg onload');
    expect(html).not.toContain('<b>day</b>');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;.evil.com');
    expect(html.match(/<script>/g)).toHaveLength(1);
  });

  it('loads nothing from the network and pins its one script by hash', () => {
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(/);
    expect(html).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
  });

  it('draws alerted pairs in the egress map and one timeline row per rule', () => {
    expect(html.match(/class="edge alerted"/g)).toHaveLength(4);
    for (const rule of ['forbidden-destination', 'gateway-bypass', 'new-destination', 'beaconing'])
      expect(html).toContain(`${rule} (1)`);
  });

  it('rolls many quiet hosts of one source under one registrable domain into one map edge', () => {
    const edge = (destination: string, registeredDomain: string | null, connections: number): Edge => ({
      source: 'app-a/app-a',
      destination,
      registeredDomain,
      connections,
      bytesUp: 0,
      alerted: null,
      rules: new Set(),
    });
    const spray = Array.from({ length: 12 }, (_, i) => edge(`x${i}.t.spray.example`, 'spray.example', 1));
    const probes = Array.from({ length: 7 }, (_, i) => edge(`45.33.32.${i}:22`, null, 1));
    const drawn = mapEdges([
      ...spray,
      ...probes,
      edge('api.ibm.com', 'ibm.com', 500),
      edge('www.ibm.com', 'ibm.com', 5),
    ]);
    expect(drawn.map((e) => [e.destination, e.connections])).toEqual([
      ['api.ibm.com', 500],
      ['12 hosts under spray.example', 12],
      ['7 IP addresses', 7],
      ['www.ibm.com', 5],
    ]);
  });
});
