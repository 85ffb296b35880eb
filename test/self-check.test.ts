import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, selfCheckLinks, tasks } from '../db/schema/index.ts';
import { createResolver } from '../src/dns/resolver.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { TestDnsServer, type ZoneRecord } from './helpers/dns-server.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/*
 * Self-check links and the page behind them: a customer's DNS administrator sees, without an account,
 * what to change and whether it is done, and can ask for a re-check (rate-limited per link). Real
 * PostgreSQL, the in-process jobs, and a DNS server on loopback whose zone the test "fixes".
 */

const zones: Record<string, ZoneRecord[]> = {
  legacy: [
    { type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net -all' },
    { type: 'MX', data: [10, 'mx1.po.2iij.net'] },
  ],
  clean: [
    { type: 'TXT', data: 'v=spf1 include:spf.gateway.example -all' },
    { type: 'MX', data: [10, 'in.mx.gateway.example'] },
  ],
};

let server: TestDnsServer;
let t: TestApp;
let clock = new Date('2022-09-01T03:00:00Z');
let program: { id: string };
let owner: { id: string };
let rep: string;

beforeAll(async () => {
  server = await TestDnsServer.start();
  server.set('spf.po.2iij.net', { records: [{ type: 'TXT', data: 'v=spf1 ip4:210.130.0.0/16 -all' }] });
  server.set('spf.gateway.example', { records: [{ type: 'TXT', data: 'v=spf1 ip4:203.0.113.0/24 -all' }] });
  const dns = createResolver({ servers: [server.address], timeoutMs: 300, tries: 1 });
  t = await buildTestApp({ now: () => clock, dns, env: { PUBLIC_URL: 'https://mdt.example.jp/' } });
  program = await makeProgram(t.db, {
    legacyService: 'Legacy mail',
    legacySpfIncludes: ['spf.po.2iij.net'],
    legacyMxHostSuffixes: ['po.2iij.net'],
    successorSpfIncludes: ['spf.gateway.example'],
    successorMxHostSuffixes: ['mx.gateway.example'],
    shutdownAt: '2022-09-30',
    spfRecordDeletionAt: '2022-10-31',
  });
  owner = await makeSalesOwner(t.db, { name: '鈴木 一郎' });
  rep = (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).token;
});
afterAll(async () => {
  await t.close();
  await server.close();
});

const call = (method: 'GET' | 'POST' | 'DELETE', url: string, token: string, body?: object) =>
  t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(body ? { payload: body } : {}) });
const page = (path: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url: path, headers });
const recheck = (path: string) =>
  t.app.inject({ method: 'POST', url: `${path}/recheck`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });

let n = 0;
async function customerWithDomain(zone: keyof typeof zones, extra: { notes?: string } = {}) {
  const customer = await makeCustomer(t.db, program.id, owner.id, { name: `株式会社テスト${++n}`, status: 'contacted', notes: extra.notes ?? null });
  const name = `self${n}-${Date.now().toString(36)}.example.jp`;
  server.set(name, { records: zones[zone]! });
  const domain = await makeDomain(t.db, customer, { name, displayName: name });
  return { customer, domain, name };
}
const pathOf = (url: string) => new URL(url).pathname;
async function link(customerId: string, body: object = {}) {
  const res = await call('POST', `/v1/customers/${customerId}/self-check-links`, rep, body);
  expect(res.statusCode).toBe(201);
  return res.json() as { id: string; url: string; expiresAt: string; state: string };
}
/** Waits until every queued check of the customer's domains has run. */
async function settled(path: string) {
  await expect.poll(async () => (await page(path)).body.includes('http-equiv="refresh"'), { timeout: 10_000, interval: 100 }).toBe(false);
}

describe('self-check links', () => {
  it('are made for a customer the caller sees: the URL once, only the token’s hash stored, 60 days by default', async () => {
    const { customer } = await customerWithDomain('legacy');
    const created = await link(customer.id);
    expect(created.url).toMatch(/^https:\/\/mdt\.example\.jp\/check\/[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({ state: 'active', expiresAt: new Date(clock.getTime() + 60 * 86_400_000).toISOString() });
    const token = created.url.split('/').pop()!;
    const [row] = await t.db.select().from(selfCheckLinks).where(eq(selfCheckLinks.id, created.id));
    expect(row!.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(token);
    const audit = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityId, customer.id), eq(auditLog.action, 'self_check_link.create')));
    expect(JSON.stringify(audit)).not.toContain(token);

    const listed = (await call('GET', `/v1/customers/${customer.id}/self-check-links`, rep)).json();
    expect(listed.items).toEqual([expect.objectContaining({ id: created.id, state: 'active', lastOpenedAt: null })]);
    expect(JSON.stringify(listed)).not.toContain(token);
    expect((await link(customer.id, { expiresInDays: 7 })).expiresAt).toBe(new Date(clock.getTime() + 7 * 86_400_000).toISOString());
  });

  it('refuse bad input and customers out of sight', async () => {
    const { customer } = await customerWithDomain('legacy');
    const bad = await call('POST', `/v1/customers/${customer.id}/self-check-links`, rep, { expiresInDays: 0 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toBe('body.expiresInDays');
    const stranger = (await makeToken(t.db, 'sales', { salesOwnerId: (await makeSalesOwner(t.db)).id })).token;
    expect((await call('POST', `/v1/customers/${customer.id}/self-check-links`, stranger, {})).statusCode).toBe(404);
    expect((await call('GET', `/v1/customers/${customer.id}/self-check-links`, stranger)).statusCode).toBe(404);
    const mine = await link(customer.id);
    expect((await call('DELETE', `/v1/customers/${customer.id}/self-check-links/${mine.id}`, stranger)).statusCode).toBe(404);
  });
});

describe('the self-check page', () => {
  it('shows what to change, in the browser’s language, and nothing else about the customer', async () => {
    const { customer, domain, name } = await customerWithDomain('legacy', { notes: '社内メモ: 値引き交渉中' });
    const other = await customerWithDomain('legacy');
    const { url } = await link(customer.id);
    const path = pathOf(url);
    expect((await recheck(path)).statusCode).toBe(303);
    await settled(path);

    const ja = await page(path, { 'accept-language': 'ja,en-US;q=0.8' });
    expect(ja.statusCode).toBe(200);
    expect(ja.body).toContain('<html lang="ja"');
    expect(ja.body).toContain('メール設定の確認');
    expect(ja.body).toContain(name);
    expect(ja.body).toContain('要対応');
    // The exact record to publish, its change marked: the legacy include out, the successor's in.
    expect(ja.body).toMatch(/<del[^>]*>include:spf\.po\.2iij\.net<\/del>/);
    expect(ja.body).toMatch(/<ins[^>]*>include:spf\.gateway\.example<\/ins>/);
    expect(ja.body).toContain('2022-09-30');
    for (const secret of ['社内メモ', '鈴木', customer.id, domain.id, program.id, owner.id, other.name, other.customer.name]) {
      expect(ja.body, secret).not.toContain(secret);
    }
    const en = await page(path, { 'accept-language': 'en-GB,en;q=0.9,ja;q=0.5' });
    expect(en.body).toContain('<html lang="en"');
    expect(en.body).toContain('Mail settings check');
    expect((await page(`${path}?lang=en`, { 'accept-language': 'ja' })).body).toContain('<html lang="en"');

    expect(ja.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(ja.headers['content-security-policy']).not.toMatch(/script-src/);
    expect(ja.headers['referrer-policy']).toBe('no-referrer');
    expect(ja.headers['x-robots-tag']).toBe('noindex, nofollow');
    expect(ja.headers['cache-control']).toBe('no-store');
    expect(ja.body).toContain('<meta name="robots" content="noindex">');
    const [row] = await t.db.select().from(selfCheckLinks).where(eq(selfCheckLinks.customerId, customer.id));
    expect(row!.lastOpenedAt).toEqual(clock);
  });

  it('answers an unknown, an expired and a revoked link with the same 404', async () => {
    const { customer } = await customerWithDomain('legacy');
    const expiring = await link(customer.id, { expiresInDays: 1 });
    const revoked = await link(customer.id);
    const revoke = await call('DELETE', `/v1/customers/${customer.id}/self-check-links/${revoked.id}`, rep);
    expect(revoke.json()).toMatchObject({ state: 'revoked', revokedBy: expect.stringMatching(/^token:/) });
    const unknown = `/check/${'A'.repeat(43)}`;
    const answers = [];
    clock = new Date(clock.getTime() + 86_400_000 + 1000);
    for (const path of [unknown, pathOf(expiring.url), pathOf(revoked.url), '/check/%00', '/check/']) {
      const res = await page(path, { 'accept-language': 'en' });
      expect(res.statusCode, path).toBe(404);
      answers.push(res.body.replaceAll(path, '/check/…'));
      expect((await recheck(path)).statusCode, path).toBe(404);
    }
    expect(new Set(answers.slice(0, 3)).size).toBe(1);
    expect(answers[0]).toContain('This link does not work');
  });

  it('checks again at most once a minute and ten times an hour per link; a clean result closes the rep’s clean-up task', async () => {
    const { customer, name } = await customerWithDomain('legacy');
    const path = pathOf((await link(customer.id)).url);
    expect((await recheck(path)).headers.location).toBe(`${path}?lang=en&rechecked=1`);
    await settled(path);
    const [task] = await t.db
      .insert(tasks)
      .values({
        programId: program.id,
        customerId: customer.id,
        assigneeId: owner.id,
        kind: 'spf_cleanup',
        milestone: 'W1',
        dedupeKey: `spf_cleanup:${customer.id}:W1`,
        title: 'Remove the legacy SPF include',
        details: {},
        dueAt: clock,
      })
      .returning();

    const soon = await recheck(path);
    expect(soon.statusCode).toBe(429);
    expect(Number(soon.headers['retry-after'])).toBe(60);
    expect(soon.body).toContain('60 seconds');

    // The customer fixes the zone, waits a minute, checks again: done, and the rep's task closes.
    server.set(name, { records: zones.clean! });
    clock = new Date(clock.getTime() + 61_000);
    expect((await recheck(path)).statusCode).toBe(303);
    await settled(path);
    const after = await page(`${path}?lang=en`);
    expect(after.body).toContain('Everything is done');
    const [closed] = await t.db.select().from(tasks).where(eq(tasks.id, task!.id));
    expect(closed!.status).toBe('closed');

    // Eight more, a minute apart, make ten in the hour; the eleventh waits for the first to age out.
    for (let i = 0; i < 8; i++) {
      clock = new Date(clock.getTime() + 61_000);
      expect((await recheck(path)).statusCode, `re-check ${i + 3}`).toBe(303);
    }
    clock = new Date(clock.getTime() + 61_000);
    const eleventh = await recheck(path);
    expect(eleventh.statusCode).toBe(429);
    // The first of the ten was 10 × 61 s ago: it leaves the hour in 3,600 − 610 s.
    expect(Number(eleventh.headers['retry-after'])).toBe(3600 - 610);
  });
});
