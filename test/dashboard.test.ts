import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, customers, statusEvents, tasks } from '../db/schema/index.ts';
import { revokeToken } from '../src/tokens/token-service.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/*
 * The web app over HTTP (app.inject): every page and form, the rules they share with the API (roles,
 * scopes, versions, audit), and what a refused change says. The browser journeys are in
 * dashboard-browser.test.ts.
 */

const now = new Date('2022-09-01T03:00:00Z'); // 12:00 in Tokyo, the program's zone
let t: TestApp;
let programId: string;
let admin: { token: string; id: string };
let salesA: { token: string; id: string };
let ownerA: { id: string };
let hostileId: string;
let hostileDomainId: string;
let otherId: string;
let plannedPassedId: string;
let overdueTaskId: string;
let laterTaskId: string;
const origin = 'http://localhost:80';
const created = new Date('2022-08-01T03:00:00Z');

beforeAll(async () => {
  t = await buildTestApp({ now: () => now });
  const program = await makeProgram(t.db, {
    name: 'Legacy <b>mail</b> shutdown',
    shutdownAt: '2022-09-30',
    spfRecordDeletionAt: '2022-10-31',
    createdAt: created,
  });
  programId = program.id;
  const a = await makeSalesOwner(t.db, { name: '鈴木', department: '営業1部' });
  const b = await makeSalesOwner(t.db, { name: 'Tanaka', department: 'Sales 2' });
  ownerA = a;
  const hostile = await makeCustomer(t.db, programId, a.id, { name: '<script>alert(1)</script>', status: 'not_contacted', createdAt: created });
  hostileId = hostile.id;
  hostileDomainId = (
    await makeDomain(t.db, hostile, {
      name: 'hostile.example',
      displayName: 'hostile.example',
      latestVerdict: 'needs_spf_cleanup',
      breaksAtDeletion: true,
      dmarcPolicy: 'reject',
      latestMxState: 'successor',
      lastDeterminedAt: now,
      lastCheckedAt: now,
    })
  ).id;
  const other = await makeCustomer(t.db, programId, b.id, { name: 'Other Ltd', status: 'contacted', createdAt: created });
  otherId = other.id;
  await makeDomain(t.db, other, { latestVerdict: 'needs_mx_and_spf', breaksAtDeletion: true, latestMxState: 'legacy', lastDeterminedAt: now });
  const passed = await makeCustomer(t.db, programId, a.id, {
    name: 'Planned Passed KK',
    status: 'contacted',
    plannedMigrationAt: '2022-08-15',
    createdAt: created,
  });
  plannedPassedId = passed.id;
  await makeDomain(t.db, passed, { latestVerdict: 'clean', breaksAtDeletion: false, latestMxState: 'successor', lastDeterminedAt: now });
  const task = (customerId: string, dueAt: Date, milestone: string) => ({
    programId,
    customerId,
    assigneeId: a.id,
    kind: 'reminder' as const,
    milestone,
    dedupeKey: `reminder:${customerId}:${milestone}`,
    title: `${milestone}: 29 days to the shutdown of Legacy — customer`,
    details: { daysLeft: 29 },
    dueAt,
  });
  // Inserted out of order: the page puts the overdue one first.
  [{ id: laterTaskId }, { id: overdueTaskId }] = (await t.db
    .insert(tasks)
    .values([task(passed.id, new Date('2022-09-10T00:00:00Z'), 'T-30'), task(hostile.id, new Date('2022-08-25T00:00:00Z'), 'T-60')])
    .returning({ id: tasks.id })) as [{ id: string }, { id: string }];
  admin = await makeToken(t.db, 'admin');
  salesA = await makeToken(t.db, 'sales', { salesOwnerId: a.id });
});
afterAll(() => t.close());

/** The sign-in form's CSRF cookie and hidden field, as a browser would have them. */
async function csrf() {
  const form = await t.app.inject({ method: 'GET', url: '/dashboard/sign-in' });
  const cookie = [form.headers['set-cookie']]
    .flat()
    .map(String)
    .find((c) => c.startsWith('mdt_csrf='))!
    .split(';')[0]!;
  const field = /name="csrf" value="([^"]+)"/.exec(form.body)![1]!;
  expect(cookie).toBe(`mdt_csrf=${field}`);
  return { cookie, field };
}
interface Session {
  cookie: string;
  field: string;
}
async function signIn(token: string, lang = 'en'): Promise<Session> {
  const c = await csrf();
  const res = await t.app.inject({
    method: 'POST',
    url: `/dashboard/sign-in?lang=${lang}`,
    headers: { origin, cookie: c.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `csrf=${c.field}&token=${encodeURIComponent(token)}`,
  });
  expect(res.statusCode).toBe(303);
  const session = [res.headers['set-cookie']]
    .flat()
    .map(String)
    .find((h) => h.startsWith('mdt_session='))!
    .split(';')[0];
  return { cookie: `${c.cookie}; ${session}; mdt_lang=${lang}`, field: c.field };
}
const get = (url: string, session?: Session, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url, headers: { ...(session ? { cookie: session.cookie } : {}), ...headers } });
const post = (url: string, session: Session, fields: Record<string, string | number>, { withCsrf = true } = {}) =>
  t.app.inject({
    method: 'POST',
    url,
    headers: { origin, cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      ...(withCsrf ? { csrf: session.field } : {}),
      ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)])),
    }).toString(),
  });
/** The words a reader sees: the body without tags, attributes or the style sheet. */
const visibleText = (html: string) =>
  html
    .replace(/<style>[\s\S]*?<\/style>/, '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ');
const versionOf = async (id: string) => (await t.db.select({ v: customers.version }).from(customers).where(eq(customers.id, id)))[0]!.v;

describe('signing in', () => {
  it('sends visitors without a session to sign in, with security headers', async () => {
    const res = await get('/dashboard');
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/dashboard/sign-in?lang=en');
    const form = await get('/dashboard/sign-in', undefined, { 'accept-language': 'ja,en;q=0.5' });
    expect(form.statusCode).toBe(200);
    expect(form.headers['content-type']).toMatch(/^text\/html/);
    expect(form.body).toContain('サインイン');
    expect(form.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(form.headers['x-content-type-options']).toBe('nosniff');
    // Every page of the app is behind the session, forms included.
    for (const url of ['/dashboard/work', '/dashboard/customers', `/dashboard/customers/${hostileId}`, '/dashboard/admin', '/dashboard/customers.csv']) {
      expect((await get(url)).statusCode, url).toBe(303);
    }
  });

  it('signs in with an API token into an HttpOnly, SameSite=Strict cookie, and refuses bad tokens, other origins and missing CSRF tokens', async () => {
    const c = await csrf();
    const send = (headers: Record<string, string>, payload: string) =>
      t.app.inject({ method: 'POST', url: '/dashboard/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload });
    const bad = await send({ origin, cookie: c.cookie }, `csrf=${c.field}&token=mdt_nope`);
    expect(bad.statusCode).toBe(401);
    expect(String(bad.headers['set-cookie'] ?? '')).not.toContain('mdt_session');
    expect((await send({ origin: 'https://evil.example', cookie: c.cookie }, `csrf=${c.field}&token=${admin.token}`)).statusCode).toBe(403);
    expect((await send({ origin }, `csrf=${c.field}&token=${admin.token}`)).statusCode).toBe(403);
    expect((await send({ origin, cookie: c.cookie }, `csrf=${'A'.repeat(43)}&token=${admin.token}`)).statusCode).toBe(403);
    expect((await send({ origin, cookie: c.cookie }, `token=${admin.token}`)).statusCode).toBe(403);
    const ok = await send({ origin, cookie: c.cookie }, `csrf=${c.field}&token=${admin.token}`);
    const set = String([ok.headers['set-cookie']].flat().find((h) => String(h).startsWith('mdt_session=')));
    expect(set).toMatch(/^mdt_session=[A-Za-z0-9_-]{43};/);
    expect(set).not.toContain(admin.token);
    expect(set.split('; ').slice(1).sort()).toEqual(['HttpOnly', 'Max-Age=28800', 'Path=/dashboard', 'SameSite=Strict']);
  });
});

describe('the program page', () => {
  it('shows figures that link to the lists behind them, gates that say why they are shut, and escapes every name', async () => {
    const session = await signIn(admin.token);
    expect((await get('/dashboard', session)).body).toContain('Legacy &lt;b&gt;mail&lt;/b&gt; shutdown');
    const res = await get(`/dashboard/programs/${programId}`, session);
    expect(res.statusCode).toBe(200);
    const body = res.body;
    expect(body).toMatch(/<b id="days-to-shutdown">29<\/b>/);
    expect(body).toMatch(/<a href="#blast"><b id="blast-radius">2<\/b>/);
    expect(body).toMatch(
      new RegExp(`<a href="/dashboard/customers\\?programId=${programId}&amp;status=migrated&amp;status=completed"><b id="migrated-percent">`),
    );
    expect(body).toMatch(/<span id="gate-spf" class="bad">shut<\/span><p>2 domains would break at deletion, 0 are not verified, 0 are missing from DNS.<\/p>/);
    // The blocking domain links to its evidence on the customer page.
    expect(body).toContain(`<a href="/dashboard/customers/${hostileId}#domain-${hostileDomainId}">hostile.example</a>`);
    expect(body).toMatch(/<svg [^>]*data-points="32"/);
    expect(body).toMatch(/<polyline class="series-customers"[^>]*points="(\d+\.\d,\d+\.\d ?){32}"/);
    expect(body).toContain('class="deadline-shutdown"');
    expect(body).toContain('class="deadline-deletion"');
    expect(body).toContain(`<a data-status="not_contacted" href="/dashboard/customers?programId=${programId}&amp;status=not_contacted">1</a>`);
    expect(body).toContain(`<a href="/dashboard/customers?programId=${programId}&amp;salesOwnerId=${ownerA.id}">鈴木</a>`);
    expect(body).toContain(`<a href="/dashboard/customers?programId=${programId}&amp;department=%E5%96%B6%E6%A5%AD1%E9%83%A8">営業1部</a>`);
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body).not.toContain('<script>alert(1)</script>');
  });

  it('says plainly when there is not yet enough history for a projection', async () => {
    const young = await makeProgram(t.db, { name: 'Young', shutdownAt: '2022-12-31', createdAt: new Date('2022-08-30T03:00:00Z') });
    const res = await get(`/dashboard/programs/${young.id}`, await signIn(admin.token));
    expect(res.body).toContain('Not enough history yet for a projection: 3 days recorded, 7 needed.');
    expect(res.body).not.toContain('class="projection-');
  });

  it('applies the token’s visibility, speaks Japanese throughout, and lets revocation and sign-out end the session', async () => {
    const sales = await makeToken(t.db, 'sales', { salesOwnerId: ownerA.id });
    const session = await signIn(sales.token, 'ja');
    const res = await get(`/dashboard/programs/${programId}?lang=ja`, session);
    expect(res.body).toMatch(/<b id="blast-radius">1<\/b>/);
    expect(res.body).toContain('削除で障害となるドメイン');
    expect(res.body).not.toContain('Tanaka');
    const text = visibleText(res.body);
    // No workflow code or English status name leaks into Japanese mode.
    for (const code of ['not_contacted', 'needs_spf_cleanup', 'contacted', 'planned']) expect(text).not.toContain(code);
    expect(text).toContain('未連絡');
    await revokeToken(t.db, sales.id, { name: 'test' }, now);
    expect((await get(`/dashboard/programs/${programId}`, session)).statusCode).toBe(303);
    const adminSession = await signIn(admin.token);
    expect((await post('/dashboard/sign-out', adminSession, {}, { withCsrf: false })).statusCode).toBe(403);
    const out = await post('/dashboard/sign-out', adminSession, {});
    expect(out.statusCode).toBe(303);
    expect(String(out.headers['set-cookie'])).toMatch(/mdt_session=; Max-Age=0/);
  });
});

describe('My work', () => {
  it('is a sales token’s landing page: open tasks overdue first, and the customers that need something, with why', async () => {
    const res = await get('/dashboard', await signIn(salesA.token));
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/<b id="count-tasks">2<\/b>/);
    expect(res.body).toMatch(/<b id="count-overdue" class="bad">1<\/b>/);
    expect(res.body.indexOf(`/dashboard/tasks/${overdueTaskId}/`)).toBeLessThan(res.body.indexOf(`/dashboard/tasks/${laterTaskId}/`));
    // Due times in the program's zone: 25 Aug 00:00 UTC is 09:00 in Tokyo.
    expect(res.body).toContain('25 Aug 2022, 09:00 GMT+9');
    const customersPart = res.body.slice(res.body.indexOf('id="work-customers"'));
    expect(customersPart).toContain(`/dashboard/customers/${hostileId}`);
    expect(customersPart).toContain('a domain needs action: SPF clean-up needed');
    expect(customersPart).toContain('mail breaks when the legacy SPF record is deleted');
    expect(customersPart).toContain(`/dashboard/customers/${plannedPassedId}`);
    expect(customersPart).toContain('planned for 2022-08-15, which has passed');
    expect(customersPart).not.toContain('Other Ltd');
  });

  it('in Japanese: task titles, reasons and times', async () => {
    const res = await get('/dashboard/work?lang=ja', await signIn(salesA.token, 'ja'));
    expect(res.body).toContain('リマインダー');
    expect(res.body).toContain('サービス終了まであと 29 日');
    expect(res.body).toContain('2022年8月25日 09:00 JST');
    expect(res.body).toContain('移行予定日 2022-08-15 を過ぎています');
    expect(visibleText(res.body)).not.toMatch(/days to the shutdown/);
  });

  it('tells an admin token, bound to nobody, that it has no work of its own', async () => {
    const res = await get('/dashboard/work', await signIn(admin.token));
    expect(res.body).toContain('This token is not bound to a sales owner');
  });
});

describe('the customer list', () => {
  it('filters by several statuses and verdicts at once, shows owner names, and offers the CSV of the same filter', async () => {
    const session = await signIn(admin.token);
    const res = await get('/dashboard/customers?status=not_contacted&status=contacted&verdict=needs_spf_cleanup&verdict=needs_mx_and_spf', session);
    expect(res.statusCode).toBe(200);
    const table = res.body.slice(res.body.indexOf('id="customer-table"'));
    expect(table).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(table).toContain('Other Ltd');
    expect(table).toContain('Tanaka');
    expect(table).not.toContain('Planned Passed KK');
    expect(res.body).toMatch(/<input type="checkbox" name="status" value="contacted" checked>/);
    const csvLink = /href="(\/dashboard\/customers\.csv\?[^"]+)"/.exec(res.body)![1]!.replaceAll('&amp;', '&');
    expect(csvLink).toBe('/dashboard/customers.csv?status=not_contacted&status=contacted&verdict=needs_spf_cleanup&verdict=needs_mx_and_spf');
    const csv = await get(csvLink, session);
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body.trim().split('\r\n')).toHaveLength(3); // the header and two customers
  });

  it('shows a sales token its own customers only, and answers a bad filter with a message, not an error page', async () => {
    const session = await signIn(salesA.token);
    const mine = await get('/dashboard/customers', session);
    expect(mine.body).toContain('Planned Passed KK');
    expect(mine.body).not.toContain('Other Ltd');
    const bad = await get('/dashboard/customers?status=nonsense', session);
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/role="alert">Please correct: status/);
    expect((await get(`/dashboard/customers/${otherId}`, session)).statusCode).toBe(404);
  });

  it('pages through a long list with keyset cursors', async () => {
    const session = await signIn(admin.token);
    const first = await get('/dashboard/customers?limit=2', session);
    const next = /<a rel="next" href="([^"]+)"/.exec(first.body)![1]!.replaceAll('&amp;', '&');
    const second = await get(next, session);
    expect(second.statusCode).toBe(200);
    expect(second.body).toContain('First page');
    expect(second.body).not.toContain('rel="next"');
  });
});

describe('the customer page', () => {
  it('moves a customer to the next status with a note, through the workflow, with history and audit', async () => {
    const session = await signIn(salesA.token);
    const page = await get(`/dashboard/customers/${plannedPassedId}`, session);
    expect(page.statusCode).toBe(200);
    // The legal next states of "contacted" are the buttons; "completed" needs clean DNS, still offered.
    for (const to of ['planned', 'migrating', 'migrated', 'on_hold', 'declined']) expect(page.body).toContain(`<button name="to" value="${to}">`);
    expect(page.body).not.toContain('<button name="to" value="not_contacted">');
    const version = await versionOf(plannedPassedId);
    expect(page.body).toContain(`<input type="hidden" name="version" value="${version}">`);
    const res = await post(`/dashboard/customers/${plannedPassedId}/transition`, session, { version, to: 'planned', note: '7/15 に切替と合意' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/dashboard/customers/${plannedPassedId}?done=statusChanged&to=planned`);
    const after = await get(res.headers.location!, session);
    expect(after.body).toContain('Status changed to “planned”.');
    expect(after.body).toMatch(/<b id="customer-status">planned<\/b>/);
    expect(after.body).toContain('contacted → planned — 7/15 に切替と合意');
    const [event] = await t.db
      .select()
      .from(statusEvents)
      .where(and(eq(statusEvents.customerId, plannedPassedId), eq(statusEvents.toStatus, 'planned')));
    expect(event).toMatchObject({ fromStatus: 'contacted', note: '7/15 に切替と合意' });
    const audits = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityId, plannedPassedId), eq(auditLog.action, 'customer.transition')));
    expect(audits).toHaveLength(1);
    expect(audits[0]!.actor).toMatch(/^token:sales-/);
  });

  it('refuses a stale form, saying who changed what, and saves nothing', async () => {
    const session = await signIn(salesA.token);
    const stale = await versionOf(hostileId);
    const other = await signIn(admin.token);
    expect((await post(`/dashboard/customers/${hostileId}/transition`, other, { version: stale, to: 'contacted' })).statusCode).toBe(303);
    const res = await post(`/dashboard/customers/${hostileId}/transition`, session, { version: stale, to: 'declined', note: 'no' });
    expect(res.statusCode).toBe(409);
    expect(res.body).toContain('Someone changed this customer since you opened the page');
    expect(res.body).toMatch(/token:admin-[0-9a-f]+ at 1 Sept 2022, 12:00 GMT\+9: not contacted → contacted\./);
    expect(res.body).toContain(`<a href="/dashboard/customers/${hostileId}">Reload</a>`);
    // The page is drawn afresh: its forms carry the current version.
    expect(res.body).toContain(`name="version" value="${stale + 1}"`);
    const [row] = await t.db.select().from(customers).where(eq(customers.id, hostileId));
    expect(row!.status).toBe('contacted');
  });

  it('answers an illegal move with the workflow’s reason in the page’s language, and a missing CSRF field with 403', async () => {
    const session = await signIn(salesA.token, 'ja');
    const version = await versionOf(plannedPassedId);
    const illegal = await post(`/dashboard/customers/${plannedPassedId}/transition`, session, { version, to: 'not_contacted' });
    expect(illegal.statusCode).toBe(409);
    expect(illegal.body).toContain('現在のステータスからその状態には変更できません。');
    const forged = await post(`/dashboard/customers/${plannedPassedId}/transition`, session, { version, to: 'migrating' }, { withCsrf: false });
    expect(forged.statusCode).toBe(403);
    expect(await versionOf(plannedPassedId)).toBe(version);
  });

  it('saves the planned date and notes, and refuses a bad date naming the field', async () => {
    const session = await signIn(salesA.token);
    const version = await versionOf(hostileId);
    const bad = await post(`/dashboard/customers/${hostileId}/details`, session, { version, plannedMigrationAt: '2022-02-30', notes: 'x' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('plannedMigrationAt');
    expect(await versionOf(hostileId)).toBe(version);
    const ok = await post(`/dashboard/customers/${hostileId}/details`, session, { version, plannedMigrationAt: '2022-09-20', notes: '担当: 山田様' });
    expect(ok.statusCode).toBe(303);
    const [row] = await t.db.select().from(customers).where(eq(customers.id, hostileId));
    expect(row).toMatchObject({ plannedMigrationAt: '2022-09-20', notes: '担当: 山田様' });
  });

  it('adds a contact, refuses one that cannot be reached, and removes it, each in the history', async () => {
    const session = await signIn(salesA.token, 'ja');
    const refused = await post(`/dashboard/customers/${plannedPassedId}/contacts`, session, {
      name: '山田',
      email: '',
      phone: '',
      role: 'technical',
      language: 'ja',
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.body).toContain('入力を確認してください: email');
    const added = await post(`/dashboard/customers/${plannedPassedId}/contacts`, session, {
      name: '山田 太郎',
      email: 'yamada@sample.co.jp',
      phone: '',
      role: 'technical',
      language: 'ja',
    });
    expect(added.statusCode).toBe(303);
    const page = await get(added.headers.location!, session);
    expect(page.body).toContain('連絡先を保存しました。');
    const contacts = page.body.slice(page.body.indexOf('id="contact-table"'));
    expect(contacts).toContain('<a href="mailto:yamada@sample.co.jp">yamada@sample.co.jp</a>');
    expect(contacts).toContain('技術担当');
    const id = /action="\/dashboard\/contacts\/([0-9a-f-]{36})\/delete"/.exec(contacts)![1]!;
    expect((await post(`/dashboard/contacts/${id}/delete`, session, {})).headers.location).toBe(`/dashboard/customers/${plannedPassedId}?done=contactRemoved`);
    const after = await get(`/dashboard/customers/${plannedPassedId}`, session);
    expect(after.body).not.toContain('mailto:yamada@sample.co.jp');
    expect(visibleText(after.body)).toContain('連絡先を削除');
    // Another rep's page cannot touch it: their contact forms answer as for a customer that does not exist.
    expect((await post(`/dashboard/customers/${otherId}/contacts`, session, { name: 'x', email: 'x@y.jp', role: 'business', language: 'ja' })).statusCode).toBe(
      404,
    );
  });

  it('logs a call from the page, which moves a not-contacted customer to contacted', async () => {
    const session = await signIn(salesA.token);
    const fresh = await makeCustomer(t.db, programId, ownerA.id, { name: 'Fresh KK', status: 'not_contacted', createdAt: created });
    const res = await post(`/dashboard/customers/${fresh.id}/contacts/events`, session, { kind: 'call', summary: 'Agreed to move in October', contactId: '' });
    expect(res.statusCode).toBe(303);
    const page = await get(res.headers.location!, session);
    expect(page.body).toContain('Logged.');
    expect(page.body).toMatch(/<b id="customer-status">contacted<\/b>/);
    expect(page.body.slice(page.body.indexOf('id="contact-log"'))).toContain('Agreed to move in October');
  });

  it('makes a self-check link, shows it, revokes it, and offers the notice as text and .eml', async () => {
    const session = await signIn(salesA.token);
    const fresh = await makeCustomer(t.db, programId, ownerA.id, { name: 'Outreach KK', status: 'contacted', createdAt: created });
    const self = `/dashboard/customers/${fresh.id}`;
    const before = await get(self, session);
    expect(before.body).toContain('No live self-check link.');
    expect(before.body).toContain('Add a technical contact with an email');
    expect(before.body).not.toContain('.eml (');
    const made = await post(`${self}/self-check-links`, session, {});
    expect(made.headers.location).toBe(`${self}?done=linkMade`);
    const shown = await get(made.headers.location!, session);
    const url = /<code id="self-check-url">([^<]+)<\/code>/.exec(shown.body)![1]!;
    expect(url).toMatch(/^http:\/\/localhost:80\/check\/[A-Za-z0-9_-]{43}$/);
    // The same link every time the page is drawn: its token is made again from the link's id.
    expect((await get(self, session)).body).toContain(url);
    expect((await t.app.inject({ method: 'GET', url: new URL(url).pathname })).statusCode).toBe(200);
    const text = await get(`${self}/notice?format=text&noticeLang=en`, session);
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(text.body).toContain(url);
    expect(text.body).toContain('Outreach KK');
    // No technical contact: no .eml (409 as in the API), shown as a page.
    expect((await get(`${self}/notice?format=eml`, session)).statusCode).toBe(409);
    await post(`${self}/contacts`, session, { name: 'Tech', email: 'tech@outreach.example', phone: '', role: 'technical', language: 'en' });
    const withContact = await get(self, session);
    expect(withContact.body).toContain('.eml (English)');
    expect(withContact.body).toContain('Sending needs SMTP_URL');
    const eml = await get(`${self}/notice?format=eml&noticeLang=en`, session);
    expect(eml.headers['content-type']).toBe('message/rfc822');
    expect(eml.body).toContain('tech@outreach.example');

    const linkId = /self-check-links\/([0-9a-f-]{36})\/revoke/.exec(withContact.body)![1]!;
    expect((await post(`${self}/self-check-links/${linkId}/revoke`, session, {})).headers.location).toBe(`${self}?done=linkRevoked`);
    expect((await t.app.inject({ method: 'GET', url: new URL(url).pathname })).statusCode).toBe(404);
    const after = await get(self, session);
    expect(after.body).toContain('No live self-check link.');
    expect(visibleText(after.body)).toContain('self-check link revoked');
    // Another rep's customer: as if it did not exist.
    expect((await post(`/dashboard/customers/${otherId}/self-check-links`, session, {})).statusCode).toBe(404);
  });

  it('queues a re-check once a minute', async () => {
    const session = await signIn(salesA.token);
    const first = await post(`/dashboard/domains/${hostileDomainId}/check`, session, { return: `/dashboard/customers/${hostileId}` });
    expect(first.statusCode).toBe(303);
    expect(first.headers.location).toBe(`/dashboard/customers/${hostileId}?done=checkQueued&domain=hostile.example`);
    const again = await post(`/dashboard/domains/${hostileDomainId}/check`, session, {});
    expect(again.statusCode).toBe(429);
    expect(again.body).toContain('hostile.example was checked less than a minute ago; try again in 60 s.');
  });

  it('snoozes a task with a reason, dismisses only with one, and completes', async () => {
    const session = await signIn(salesA.token);
    const noReason = await post(`/dashboard/tasks/${overdueTaskId}/dismiss`, session, { reason: ' ' });
    expect(noReason.statusCode).toBe(400);
    const snoozed = await post(`/dashboard/tasks/${overdueTaskId}/snooze`, session, {
      until: '2022-09-05',
      reason: '先方の返事待ち',
      programId,
      return: '/dashboard/work',
    });
    expect(snoozed.statusCode).toBe(303);
    expect(snoozed.headers.location).toBe('/dashboard/work?done=taskSnoozed');
    const [task] = await t.db.select().from(tasks).where(eq(tasks.id, overdueTaskId));
    expect(task!.snoozedUntil).toEqual(new Date('2022-09-04T15:00:00Z')); // the start of 5 Sept in Tokyo
    const [audit] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityId, overdueTaskId), eq(auditLog.action, 'task.snooze')));
    expect(JSON.stringify(audit)).toContain('先方の返事待ち');
    expect((await post(`/dashboard/tasks/${laterTaskId}/complete`, session, { return: 'https://evil.example/' })).headers.location).toBe(
      '/dashboard/work?done=taskDone',
    );
    expect((await t.db.select().from(tasks).where(eq(tasks.id, laterTaskId)))[0]!.status).toBe('completed');
  });
});

describe('admin', () => {
  it('is for admins only', async () => {
    const res = await get('/dashboard/admin', await signIn(salesA.token));
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('Your role may not open this page.');
  });

  it('creates a rep’s token, shown once, that works on the API, and revokes it', async () => {
    const session = await signIn(admin.token);
    const res = await post('/dashboard/admin/tokens', session, {
      name: '鈴木 一郎',
      role: 'sales',
      salesOwnerId: ownerA.id,
      department: '',
      expiresInDays: 90,
    });
    expect(res.statusCode).toBe(201);
    const token = /<code id="new-token">(mdt_[A-Za-z0-9_-]{43})<\/code>/.exec(res.body)![1]!;
    const api = await t.app.inject({ method: 'GET', url: '/v1/customers', headers: { authorization: `Bearer ${token}` } });
    expect(api.statusCode).toBe(200);
    // Listed by its prefix, never again in full.
    const listed = await get('/dashboard/admin', session);
    expect(listed.body).not.toContain(token);
    expect(listed.body).toContain(token.slice(0, 10));
    const id = new RegExp(`action="/dashboard/admin/tokens/([0-9a-f-]{36})/revoke"`).exec(listed.body.slice(listed.body.indexOf('鈴木 一郎')))![1]!;
    expect((await post(`/dashboard/admin/tokens/${id}/revoke`, session, {})).statusCode).toBe(303);
    expect((await t.app.inject({ method: 'GET', url: '/v1/customers', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(401);
  });

  it('refuses a token without its binding with the API’s words, keeping what was typed', async () => {
    const res = await post('/dashboard/admin/tokens', await signIn(admin.token), { name: 'Nobody', role: 'sales', salesOwnerId: '', department: '' });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('a sales token must be bound to a sales owner');
    expect(res.body).toContain('value="Nobody"');
  });

  it('sets a manager and deactivates an owner through the owners’ service', async () => {
    const session = await signIn(admin.token);
    const rep = await makeSalesOwner(t.db, { name: 'Rep', department: '営業1部' });
    const boss = await makeSalesOwner(t.db, { name: 'Boss', department: '営業1部' });
    expect((await post(`/dashboard/admin/owners/${rep.id}`, session, { version: rep.version, managerId: boss.id })).statusCode).toBe(303);
    expect((await post(`/dashboard/admin/owners/${rep.id}`, session, { version: rep.version, active: 'false' })).statusCode).toBe(412);
    expect((await post(`/dashboard/admin/owners/${rep.id}`, session, { version: rep.version + 1, active: 'false' })).statusCode).toBe(303);
    const audits = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityId, rep.id), eq(auditLog.action, 'sales_owner.update')));
    expect(audits).toHaveLength(2);
  });
});
