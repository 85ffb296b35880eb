import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsChecks, statusEvents, tasks } from '../db/schema/index.ts';
import { axeSource as readAxe, chromiumPath, haveChromium, launchChromium } from './helpers/chromium.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/*
 * Whole journeys through the web app in Debian's Chromium, at laptop and phone sizes, in English and
 * Japanese, with JavaScript switched off (every page must work as plain forms). On every page: no
 * console errors, no sideways scrolling, and no serious or critical finding of axe-core. Screenshots
 * go to test-artifacts/ (the README's come from there).
 */

const artifacts = join(import.meta.dirname, '..', 'test-artifacts');
const axeSource = readAxe();

const now = new Date('2022-09-01T03:00:00Z');
const created = new Date('2022-08-01T03:00:00Z');
let t: TestApp;
let browser: Browser;
let base: string;
let programId: string;
let adminToken: string;
let managerToken: string;
let blockingDomain: { id: string; customerId: string };

const viewports = [
  { name: 'laptop', width: 1280, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;
const langs = ['en', 'ja'] as const;
const words = {
  en: { moveToPlanned: 'Move to “planned”', planned: 'planned', snooze: 'Snooze', changed: 'Status changed to “planned”.', snoozed: 'Task snoozed.' },
  ja: {
    moveToPlanned: '「移行予定」にする',
    planned: '移行予定',
    snooze: '保留',
    changed: 'ステータスを「移行予定」に変更しました。',
    snoozed: 'タスクを保留にしました。',
  },
};

/** One rep per journey (viewport × language), each with a contacted customer and an open task. */
const reps = new Map<string, { token: string; customerId: string; customerName: string }>();

async function seed() {
  const program = await makeProgram(t.db, {
    name: 'Legacy mail shutdown',
    shutdownAt: '2022-09-30',
    spfRecordDeletionAt: '2022-10-31',
    createdAt: created,
  });
  programId = program.id;
  const boss = await makeSalesOwner(t.db, { name: '佐藤部長', department: '営業1部' });
  for (const v of viewports) {
    for (const lang of langs) {
      const owner = await makeSalesOwner(t.db, { name: `担当 ${v.name} ${lang}`, department: '営業1部', managerId: boss.id });
      const name = `株式会社サンプル ${v.name}-${lang}`;
      const c = await makeCustomer(t.db, programId, owner.id, { name, status: 'contacted', createdAt: created });
      await makeDomain(t.db, c, {
        name: `sample-${v.name}-${lang}.example`,
        displayName: `sample-${v.name}-${lang}.example`,
        latestVerdict: 'needs_spf_cleanup',
        breaksAtDeletion: true,
        dmarcPolicy: 'reject',
        latestMxState: 'successor',
        lastDeterminedAt: now,
        lastCheckedAt: now,
        createdAt: created,
      });
      await t.db.insert(tasks).values({
        programId,
        customerId: c.id,
        assigneeId: owner.id,
        kind: 'reminder',
        milestone: 'T-30',
        dedupeKey: `reminder:${c.id}:T-30`,
        title: `T-30: 29 days to the shutdown of Legacy — ${name}`,
        details: { daysLeft: 29 },
        dueAt: new Date('2022-08-30T00:00:00Z'),
      });
      reps.set(`${v.name}-${lang}`, { token: (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).token, customerId: c.id, customerName: name });
    }
  }
  // The domain that holds the SPF gate shut, with its evidence: a verified record to publish.
  const blocked = await makeCustomer(t.db, programId, boss.id, { name: 'Blocked KK', status: 'migrated', createdAt: created });
  const domain = await makeDomain(t.db, blocked, {
    name: 'blocked.example',
    displayName: 'blocked.example',
    latestVerdict: 'needs_spf_cleanup',
    breaksAtDeletion: true,
    dmarcPolicy: 'reject',
    latestMxState: 'successor',
    lastDeterminedAt: now,
    lastCheckedAt: now,
    createdAt: created,
  });
  blockingDomain = { id: domain.id, customerId: blocked.id };
  await t.db.insert(dnsChecks).values({
    domainId: domain.id,
    checkedAt: now,
    outcome: 'determined',
    verdict: 'needs_spf_cleanup',
    durationMs: 12,
    resolver: 'test',
    verdictChanged: true,
    result: {
      domain: 'blocked.example',
      verdict: 'needs_spf_cleanup',
      mx: { state: 'successor', hosts: [{ exchange: 'mx1.gateway.example', priority: 10, side: 'successor' }] },
      spf: {
        state: 'legacy_referenced',
        records: ['v=spf1 include:spf.po.2iij.net include:spf.gateway.example -all'],
        resultNow: 'fail',
        resultIfLegacyDeleted: 'permerror',
        suggestion: {
          verified: true,
          records: [
            {
              name: 'blocked.example',
              current: 'v=spf1 include:spf.po.2iij.net include:spf.gateway.example -all',
              record: 'v=spf1 include:spf.gateway.example -all',
            },
          ],
          problems: [],
        },
        blockedBy: [],
      },
      dmarc: { policy: 'reject' },
      impact: [
        {
          severity: 'critical',
          code: 'rejected_at_deletion',
          message:
            'When the legacy SPF record is deleted, SPF for blocked.example becomes permerror for every sender, and DMARC p=reject makes receivers reject that mail unless DKIM aligns.',
        },
      ],
      instructions: { en: ['Publish the record shown.'], ja: ['表示されたレコードを公開してください。'] },
    },
  });
  // History for the burndown: one customer migrated on 20 Aug.
  await t.db
    .insert(statusEvents)
    .values({ customerId: blocked.id, fromStatus: 'migrating', toStatus: 'migrated', actor: 'test', at: new Date('2022-08-20T03:00:00Z') });
  adminToken = (await makeToken(t.db, 'admin')).token;
  managerToken = (await makeToken(t.db, 'manager', { department: '営業1部' })).token;
}

describe.skipIf(!haveChromium)(`the web app in a real browser (skipped without Chromium at ${chromiumPath})`, () => {
  beforeAll(async () => {
    t = await buildTestApp({ now: () => now });
    await seed();
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
    mkdirSync(artifacts, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** A page with JavaScript off, collecting console errors; `check()` runs the per-page checks. */
  async function open(viewport: (typeof viewports)[number], lang: 'en' | 'ja') {
    const context = await browser.newContext({ viewport, locale: lang === 'ja' ? 'ja-JP' : 'en-US', javaScriptEnabled: false });
    const page = await context.newPage();
    page.setDefaultTimeout(8_000); // a Playwright error names the step; the test's timeout would not
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    /** No console error, nothing wider than the screen, no serious or critical accessibility finding. */
    const check = async (what: string) => {
      expect(consoleErrors, what).toEqual([]);
      expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'), `${what} scrolls sideways`).toBeLessThanOrEqual(0);
      // axe-core runs on timers, which a page without JavaScript does not have: the same URL, with the
      // same session, in a scripted twin.
      const twin = await browser.newContext({ viewport, locale: lang === 'ja' ? 'ja-JP' : 'en-US', storageState: await context.storageState() });
      const probe = await twin.newPage();
      await probe.goto(page.url());
      await probe.evaluate(axeSource);
      const violations = await probe.evaluate<{ id: string; impact: string; nodes: string[] }[]>(`
        axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
          .filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })))`);
      await twin.close();
      expect(violations, `${what}: axe-core`).toEqual([]);
    };
    const shot = (name: string) => page.screenshot({ path: join(artifacts, `${name}-${viewport.name}-${lang}.png`), fullPage: true });
    const signIn = async (token: string) => {
      await page.goto(`${base}/dashboard/sign-in?lang=${lang}`);
      await check('sign-in');
      await page.fill('input[name="token"]', token);
      await Promise.all([page.waitForURL(`${base}/dashboard?lang=${lang}`), page.click('form[action^="/dashboard/sign-in"] button')]);
    };
    return { page, context, check, shot, signIn, consoleErrors };
  }

  for (const viewport of viewports) {
    for (const lang of langs) {
      const w = words[lang];

      it(`a rep works their day: My work, a status change with a note, a snoozed task, the history (${viewport.name}, ${lang})`, async () => {
        const rep = reps.get(`${viewport.name}-${lang}`)!;
        const { page, context, check, shot, signIn } = await open(viewport, lang);
        await signIn(rep.token);
        // My work is the landing page: the task and the customer that needs something.
        expect(await page.textContent('#count-tasks')).toBe('1');
        expect(await page.textContent('#count-overdue')).toBe('1');
        await check('my work');
        await shot('my-work');
        await page.click(`#work-customers a[href="/dashboard/customers/${rep.customerId}"]`);
        await page.waitForURL(`${base}/dashboard/customers/${rep.customerId}`);
        await check('customer');
        await page.fill('textarea[name="note"]', '7/15 に切替と合意');
        await Promise.all([page.waitForURL(/done=statusChanged/), page.click(`button[name="to"][value="planned"]`)]);
        expect(await page.textContent('[role="status"]')).toBe(w.changed);
        expect(await page.textContent('#customer-status')).toBe(w.planned);
        // Snooze the task with a reason, on the same page.
        const snooze = page.locator('#task-table form[action$="/snooze"]').first();
        await snooze.locator('input[name="until"]').fill('2022-09-05');
        await snooze.locator('input[name="reason"]').fill('先方の返事待ち');
        await Promise.all([page.waitForURL(/done=taskSnoozed/), snooze.locator('button').click()]);
        expect(await page.textContent('[role="status"]')).toBe(w.snoozed);
        // The history shows the move with its note, newest first.
        expect(await page.locator('#history-table tbody tr').first().textContent()).toContain('7/15 に切替と合意');
        await check('customer after changes');
        await shot('customer');
        await context.close();
      });

      it(`a manager goes from a shut gate to the blocking domain’s evidence in clicks (${viewport.name}, ${lang})`, async () => {
        const { page, context, check, shot, signIn } = await open(viewport, lang);
        await signIn(managerToken);
        await page.click(`a[href="/dashboard/programs/${programId}"]`);
        await page.waitForURL(`${base}/dashboard/programs/${programId}`);
        expect(await page.getAttribute('#gate-spf', 'class')).toBe('bad');
        expect(await page.locator('svg[data-points]').getAttribute('data-points')).toBe('32');
        await check('program');
        await shot('program');
        await page.click(`#gate-spf-blockers a[href="/dashboard/customers/${blockingDomain.customerId}#domain-${blockingDomain.id}"]`);
        await page.waitForURL(`${base}/dashboard/customers/${blockingDomain.customerId}#domain-${blockingDomain.id}`);
        const evidence = page.locator(`#domain-${blockingDomain.id}`);
        expect(await evidence.locator('pre.record').textContent()).toBe('v=spf1 include:spf.gateway.example -all');
        expect(await evidence.textContent()).toContain(lang === 'ja' ? 'DMARC p=reject のため' : 'DMARC p=reject makes receivers reject');
        await check('blocking domain');
        await shot('evidence');
        await context.close();
      });

      it(`an admin creates a rep’s token, shown once (${viewport.name}, ${lang})`, async () => {
        const { page, context, check, shot, signIn } = await open(viewport, lang);
        await signIn(adminToken);
        await page.click('a[href="/dashboard/admin"]');
        await check('admin');
        const form = page.locator('form[action="/dashboard/admin/tokens"]');
        await form.locator('input[name="name"]').fill(`新人 ${viewport.name} ${lang}`);
        await form.locator('select[name="salesOwnerId"]').selectOption({ index: 1 });
        await form.locator('button').click();
        const token = await page.textContent('#new-token');
        expect(token).toMatch(/^mdt_[A-Za-z0-9_-]{43}$/);
        const api = await fetch(`${base}/v1/customers`, { headers: { authorization: `Bearer ${token}` } });
        expect(api.status).toBe(200);
        await check('admin with the new token');
        await shot('admin');
        await context.close();
      });
    }
  }

  it('a stale form gets the conflict message and a way to reload', async () => {
    const rep = reps.get('laptop-en')!;
    const { page, context, check, signIn, consoleErrors } = await open(viewports[0], 'en');
    await signIn(rep.token);
    await page.goto(`${base}/dashboard/customers/${rep.customerId}`);
    // Someone else moves the customer on while the page is open.
    const current = await fetch(`${base}/v1/customers/${rep.customerId}`, { headers: { authorization: `Bearer ${adminToken}` } });
    const moved = await fetch(`${base}/v1/customers/${rep.customerId}/transitions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'if-match': current.headers.get('etag')! },
      body: JSON.stringify({ to: 'migrating', note: 'cut over early' }),
    });
    expect(moved.status).toBe(200);
    const { status: from } = (await current.json()) as { status: string };
    const [answer] = await Promise.all([
      page.waitForResponse(`${base}/dashboard/customers/${rep.customerId}/transition`),
      page.click('button[name="to"][value="migrated"]'),
    ]);
    // The refused post answers 409, which Chromium reports on the console; nothing else may be there.
    expect(answer.status()).toBe(409);
    // (The console line comes a moment after the answer: wait for it rather than race it.)
    await expect.poll(() => consoleErrors.length).toBeGreaterThan(0);
    expect(consoleErrors.splice(0)).toEqual(['Failed to load resource: the server responded with a status of 409 (Conflict)']);
    const alert = await page.textContent('[role="alert"]');
    expect(alert).toContain('Someone changed this customer since you opened the page');
    expect(alert).toContain(`${from.replace('_', ' ')} → migrating — cut over early`);
    await check('conflict');
    await page.click('[role="alert"] a');
    await page.waitForURL(`${base}/dashboard/customers/${rep.customerId}`);
    expect(await page.textContent('#customer-status')).toBe('migrating');
    await context.close();
  });
});
