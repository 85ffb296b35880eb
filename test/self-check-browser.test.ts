import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from '../src/dns/resolver.ts';
import { axeSource as readAxe, chromiumPath, haveChromium, launchChromium } from './helpers/chromium.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { TestDnsServer, type ZoneRecord } from './helpers/dns-server.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/*
 * The self-check page as a customer uses it: a phone, Japanese, JavaScript off, Debian's Chromium. They
 * open the link, see what to change, "fix" the zone (the test's DNS server changes), press "check
 * again" and see it done. A revoked link is a 404; another customer's data never shows.
 */

const artifacts = join(import.meta.dirname, '..', 'test-artifacts');
const axeSource = readAxe();

const legacyZone: ZoneRecord[] = [
  { type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net include:spf.gateway.example -all' },
  { type: 'MX', data: [10, 'in.mx.gateway.example'] },
];
const fixedZone: ZoneRecord[] = [
  { type: 'TXT', data: 'v=spf1 include:spf.gateway.example -all' },
  { type: 'MX', data: [10, 'in.mx.gateway.example'] },
];

let server: TestDnsServer;
let t: TestApp;
let browser: Browser;
let base: string;

describe.skipIf(!haveChromium)(`the self-check page in a real browser (skipped without Chromium at ${chromiumPath})`, () => {
  let mine: { link: string; linkId: string; customerId: string; domain: string };
  let theirs: { name: string; domain: string };
  let rep: string;

  beforeAll(async () => {
    server = await TestDnsServer.start();
    server.set('spf.po.2iij.net', { records: [{ type: 'TXT', data: 'v=spf1 ip4:210.130.0.0/16 -all' }] });
    server.set('spf.gateway.example', { records: [{ type: 'TXT', data: 'v=spf1 ip4:203.0.113.0/24 -all' }] });
    t = await buildTestApp({ dns: createResolver({ servers: [server.address], timeoutMs: 300, tries: 1 }) });
    const program = await makeProgram(t.db, {
      legacyService: '旧メールホスティング',
      legacySpfIncludes: ['spf.po.2iij.net'],
      legacyMxHostSuffixes: ['po.2iij.net'],
      successorSpfIncludes: ['spf.gateway.example'],
      successorMxHostSuffixes: ['mx.gateway.example'],
      shutdownAt: '2030-09-30',
      spfRecordDeletionAt: '2030-10-31',
    });
    const owner = await makeSalesOwner(t.db, { name: '担当 鈴木' });
    rep = (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).token;
    const customer = await makeCustomer(t.db, program.id, owner.id, { name: '株式会社サンプル商事', status: 'contacted', notes: '社内メモ' });
    const domain = 'sample-shoji.example.jp';
    server.set(domain, { records: legacyZone });
    server.set(`_dmarc.${domain}`, { records: [{ type: 'TXT', data: 'v=DMARC1; p=reject' }] });
    await makeDomain(t.db, customer, { name: domain, displayName: domain });
    const other = await makeCustomer(t.db, program.id, owner.id, { name: '他社株式会社', status: 'contacted' });
    theirs = { name: other.name, domain: 'other-company.example.jp' };
    server.set(theirs.domain, { records: legacyZone });
    await makeDomain(t.db, other, { name: theirs.domain, displayName: theirs.domain });

    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const created = await t.app.inject({
      method: 'POST',
      url: `/v1/customers/${customer.id}/self-check-links`,
      headers: { authorization: `Bearer ${rep}`, host: new URL(base).host },
      payload: {},
    });
    expect(created.statusCode).toBe(201);
    mine = { link: created.json().url, linkId: created.json().id, customerId: customer.id, domain };
    browser = await launchChromium();
    mkdirSync(artifacts, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await server?.close();
  });

  it('a customer on a phone sees in Japanese what to change, fixes it, checks again and sees it done', async () => {
    expect(mine.link.startsWith(`${base}/check/`)).toBe(true);
    const phone = { width: 390, height: 844 };
    const context = await browser.newContext({ viewport: phone, locale: 'ja-JP', javaScriptEnabled: false });
    const page = await context.newPage();
    page.setDefaultTimeout(8_000);
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    const wholePage = async () => (await page.textContent('body')) ?? '';
    const fits = async () => expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(0);

    // First visit: nothing checked yet; the customer asks for a check and the page reloads itself until it is done.
    await page.goto(mine.link);
    await Promise.all([page.waitForURL(/rechecked=1/), page.click('button:has-text("今すぐ再確認")')]);
    await expect.poll(wholePage, { timeout: 15_000 }).toContain('要対応');
    await expect.poll(wholePage, { timeout: 15_000 }).not.toContain('確認中です');
    const before = await wholePage();
    expect(before).toContain('メール設定の確認');
    expect(before).toContain('株式会社サンプル商事');
    expect(before).toContain('v=spf1 include:spf.po.2iij.net include:spf.gateway.example -all');
    expect(await page.locator('del', { hasText: 'include:spf.po.2iij.net' }).count()).toBeGreaterThan(0);
    expect(before).toContain('2030-09-30');
    for (const hidden of ['社内メモ', '担当 鈴木', mine.customerId, theirs.name, theirs.domain]) expect(before, hidden).not.toContain(hidden);
    await fits();
    await page.screenshot({ path: join(artifacts, 'self-check-phone-ja-todo.png'), fullPage: true });

    // The customer publishes the record; a minute later (the page's limit, moved back here) they check again.
    server.set(mine.domain, { records: fixedZone });
    await t.db.execute(sql`UPDATE self_check_links SET rechecked_at = ARRAY[now() - interval '2 minutes'] WHERE id = ${mine.linkId}`);
    await t.db.execute(sql`UPDATE domains SET on_demand_requested_at = now() - interval '2 minutes' WHERE name = ${mine.domain}`);
    await page.goto(`${mine.link}`);
    await Promise.all([page.waitForURL(/rechecked=1/), page.click('button:has-text("今すぐ再確認")')]);
    await expect.poll(wholePage, { timeout: 15_000 }).toContain('すべて対応済みです');
    await fits();
    expect(consoleErrors).toEqual([]);
    await page.screenshot({ path: join(artifacts, 'self-check-phone-ja-done.png'), fullPage: true });

    // axe-core needs script: the same page in a scripted twin.
    const twin = await browser.newContext({ viewport: phone, locale: 'ja-JP' });
    const probe = await twin.newPage();
    await probe.goto(mine.link);
    await probe.evaluate(axeSource);
    const violations = await probe.evaluate<{ id: string }[]>(`
      axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')) })))`);
    expect(violations).toEqual([]);
    await twin.close();
    await context.close();
  });

  it('a revoked link shows a 404 that says nothing about the customer', async () => {
    const revoked = await t.app.inject({
      method: 'DELETE',
      url: `/v1/customers/${mine.customerId}/self-check-links/${mine.linkId}`,
      headers: { authorization: `Bearer ${rep}` },
    });
    expect(revoked.statusCode).toBe(200);
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ja-JP', javaScriptEnabled: false });
    const page = await context.newPage();
    const res = await page.goto(mine.link);
    expect(res!.status()).toBe(404);
    const text = (await page.textContent('body')) ?? '';
    expect(text).toContain('ページが見つかりません');
    for (const hidden of ['株式会社サンプル商事', mine.domain]) expect(text).not.toContain(hidden);
    await context.close();
  });
});
