/**
 * Opens the report in a real headless Chromium (Debian's `chromium`, driven by playwright-core) and
 * checks that it renders without console errors and that attacker-controlled host names show up as
 * text and never run. Skipped (loudly) only when Chromium is absent outside CI.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { renderReport } from '../../src/report/html.js';
import { buildModel } from '../../src/report/model.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && !process.env.CI) {
  console.warn(
    `\n*** SKIPPING the report browser test: ${CHROMIUM} is missing (apt-get install -y chromium). In CI it must run. ***\n`,
  );
}

describe.skipIf(!available && !process.env.CI)('report in headless Chromium', () => {
  it('renders with no console errors and shows the hostile host name as text without running it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    const file = join(dir, 'report.html');
    writeFileSync(
      file,
      renderReport(buildModel('test/fixtures/report/alerts.jsonl', 'test/fixtures/report/flows.jsonl')),
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('dialog', (d) => {
        problems.push(`dialog: ${d.message()}`);
        void d.dismiss();
      });
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) requests.push(r.url());
      });
      await page.exposeFunction('__hit', () => problems.push('injected code ran'));
      await page.goto(pathToFileURL(file).href);
      await page.waitForLoadState('load');

      expect(await page.locator('#alerts tbody tr').count()).toBe(4);
      const cells = await page.locator('#alerts tbody td:nth-child(8)').allTextContents();
      expect(cells).toContain('<img src=x onerror=alert(1)>.evil.com');
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('svg.map text.hot').count()).toBeGreaterThan(0);
      expect(
        await page.locator('svg.map').evaluate((el) => el.getBoundingClientRect().height),
      ).toBeGreaterThan(50);

      // The filter script works (and only touches text).
      await page.fill('#filter', 'evil.com');
      expect(await page.locator('#alerts tbody tr:not([hidden])').count()).toBe(1);
      expect(await page.textContent('#shown')).toBe('1');

      expect(problems).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
