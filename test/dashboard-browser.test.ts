import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { dnsChecks, statusEvents } from '../db/schema/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

// Debian's chromium, never a downloaded browser. `.ci/run` installs it; CI must not skip this test.
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(chromiumPath);
if (!haveChromium && process.env.CI) throw new Error(`CI needs Chromium at ${chromiumPath} (apt-get install chromium)`);
const artifacts = join(import.meta.dirname, '..', 'test-artifacts');

const now = new Date('2022-09-01T03:00:00Z');
let t: TestApp;
let browser: Browser;
let base: string;
let programId: string;
let adminToken: string;

describe.skipIf(!haveChromium)(`the dashboard in a real browser (skipped without Chromium at ${chromiumPath})`, () => {
  beforeAll(async () => {
    t = await buildTestApp({ now: () => now });
    const program = await makeProgram(t.db, {
      name: 'Legacy mail shutdown',
      shutdownAt: '2022-09-30',
      spfRecordDeletionAt: '2022-10-31',
      createdAt: new Date('2022-08-01T03:00:00Z'),
    });
    programId = program.id;
    const a = await makeSalesOwner(t.db, { name: '鈴木', department: '営業1部' });
    const b = await makeSalesOwner(t.db, { name: 'Tanaka', department: 'Sales 2' });
    const created = new Date('2022-08-01T03:00:00Z');
    const c1 = await makeCustomer(t.db, programId, a.id, { name: '株式会社サンプル', status: 'not_contacted', createdAt: created });
    await makeDomain(t.db, c1, {
      name: 'sample.example',
      displayName: 'sample.example',
      latestVerdict: 'needs_spf_cleanup',
      breaksAtDeletion: true,
      dmarcPolicy: 'reject',
      latestMxState: 'successor',
      lastDeterminedAt: now,
      createdAt: created,
    });
    const c2 = await makeCustomer(t.db, programId, b.id, { name: 'Contacted Ltd', status: 'contacted', createdAt: created });
    await makeDomain(t.db, c2, {
      name: 'contacted.example',
      displayName: 'contacted.example',
      latestVerdict: 'needs_mx_and_spf',
      breaksAtDeletion: true,
      latestMxState: 'legacy',
      lastDeterminedAt: now,
      createdAt: created,
    });
    const c3 = await makeCustomer(t.db, programId, b.id, { name: 'Done Inc', status: 'migrated', createdAt: created });
    const done = await makeDomain(t.db, c3, {
      name: 'done.example',
      displayName: 'done.example',
      latestVerdict: 'clean',
      breaksAtDeletion: false,
      latestMxState: 'successor',
      lastDeterminedAt: now,
      createdAt: created,
    });
    // History for the burndown: Done Inc migrated on 20 Aug, its domain turned clean on 22 Aug.
    await t.db
      .insert(statusEvents)
      .values({ customerId: c3.id, fromStatus: 'migrating', toStatus: 'migrated', actor: 'test', at: new Date('2022-08-20T03:00:00Z') });
    await t.db.insert(dnsChecks).values({
      domainId: done.id,
      checkedAt: new Date('2022-08-22T03:00:00Z'),
      outcome: 'determined',
      verdict: 'clean',
      result: {},
      durationMs: 1,
      resolver: 'test',
      verdictChanged: true,
    });
    adminToken = (await makeToken(t.db, 'admin')).token;
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      // A fresh temporary profile each launch (Playwright's own). The machine has no internet: keep
      // Chromium from calling home, or its start-up stalls.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  for (const viewport of [
    { name: 'laptop', width: 1280, height: 900 },
    { name: 'phone', width: 390, height: 844 },
  ]) {
    it(`signs in and shows the program's charts and tables with the right numbers (${viewport.name})`, async () => {
      const page = await browser.newPage({ viewport, locale: 'en-US' });
      page.setDefaultTimeout(8_000); // a Playwright error names the step; the test's timeout would not
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(`${base}/dashboard`);
      expect(page.url()).toBe(`${base}/dashboard/sign-in?lang=en`);
      await page.fill('input[name="token"]', adminToken);
      await Promise.all([page.waitForURL(`${base}/dashboard?lang=en`), page.click('form[action^="/dashboard/sign-in"] button')]);
      const cookies = await page.context().cookies();
      expect(cookies.find((c) => c.name === 'mdt_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

      await page.click('text=Legacy mail shutdown');
      await page.waitForURL(`${base}/dashboard/programs/${programId}?lang=en`);
      expect(await page.textContent('#days-to-shutdown')).toBe('29');
      expect(await page.textContent('#migrated-percent')).toBe('33.3%');
      expect(await page.textContent('#blast-radius')).toBe('2');
      expect(await page.textContent('#gate-mx')).toBe('no');
      expect(await page.textContent('#gate-spf')).toBe('no');

      // The burndown chart is drawn: 32 daily points (1 Aug to 1 Sep) per series, with a visible size.
      const chart = page.locator('svg[data-points]');
      expect(await chart.getAttribute('data-points')).toBe('32');
      const box = await chart.boundingBox();
      expect(box!.width).toBeGreaterThan(200);
      expect(box!.width).toBeLessThanOrEqual(viewport.width);
      // Each series steps down once (3 to 2), so its last point is drawn lower than its first.
      for (const series of ['.series-customers', '.series-domains']) {
        const points = (await page.locator(`polyline${series}`).getAttribute('points'))!
          .trim()
          .split(/\s+/)
          .map((p) => Number(p.split(',')[1]));
        expect(points).toHaveLength(32);
        expect(new Set(points).size).toBe(2);
        expect(points.at(-1)!).toBeGreaterThan(points[0]!);
      }

      const rows = async (table: string) =>
        page.locator(`#${table} tr`).evaluateAll((trs) => trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent)));
      expect(await page.textContent('#status-table td[data-status="not_contacted"]')).toBe('1');
      expect(await page.textContent('#status-table td[data-status="migrated"]')).toBe('1');
      expect((await rows('owner-table')).map((r) => r.slice(0, 2))).toEqual(
        expect.arrayContaining([
          ['営業1部', '鈴木'],
          ['Sales 2', 'Tanaka'],
        ]),
      );
      const blast = await rows('blast-table');
      expect(blast.map((r) => r[0])).toEqual(['sample.example', 'contacted.example']); // DMARC reject first
      expect(blast[0]![1]).toBe('reject');
      expect(await page.locator('#at-risk li').count()).toBe(2);

      // Nothing overflows sideways on a phone except inside the scrollable table wrappers.
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      expect(overflow).toBeLessThanOrEqual(0);
      expect(errors).toEqual([]); // the CSP blocks nothing the page needs

      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, `dashboard-${viewport.name}.png`), fullPage: true });
      await page.close();
    });
  }
});
