import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeToken } from '../src/tokens/token-service.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

const now = new Date('2022-09-01T03:00:00Z');
let t: TestApp;
let programId: string;
let admin: { token: string; id: string };
let sales: { token: string; id: string };
const origin = 'http://localhost:80';

beforeAll(async () => {
  t = await buildTestApp({ now: () => now });
  const program = await makeProgram(t.db, {
    name: 'Legacy <b>mail</b> shutdown',
    shutdownAt: '2022-09-30',
    spfRecordDeletionAt: '2022-10-31',
    createdAt: new Date('2022-08-01T03:00:00Z'),
  });
  programId = program.id;
  const a = await makeSalesOwner(t.db, { name: '鈴木', department: '営業1部' });
  const b = await makeSalesOwner(t.db, { name: 'Tanaka', department: 'Sales 2' });
  const hostile = await makeCustomer(t.db, programId, a.id, {
    name: '<script>alert(1)</script>',
    status: 'not_contacted',
    createdAt: new Date('2022-08-01T03:00:00Z'),
  });
  await makeDomain(t.db, hostile, {
    latestVerdict: 'needs_spf_cleanup',
    breaksAtDeletion: true,
    dmarcPolicy: 'reject',
    latestMxState: 'successor',
    lastDeterminedAt: now,
  });
  const other = await makeCustomer(t.db, programId, b.id, { status: 'contacted', createdAt: new Date('2022-08-01T03:00:00Z') });
  await makeDomain(t.db, other, { latestVerdict: 'needs_mx_and_spf', breaksAtDeletion: true, latestMxState: 'legacy', lastDeterminedAt: now });
  admin = await makeToken(t.db, 'admin');
  sales = await makeToken(t.db, 'sales', { salesOwnerId: a.id });
});
afterAll(() => t.close());

/** The sign-in form's CSRF cookie and hidden field, as a browser would have them. */
async function csrf() {
  const form = await t.app.inject({ method: 'GET', url: '/dashboard/sign-in' });
  const cookie = String(form.headers['set-cookie']).split(';')[0]!;
  const field = /name="csrf" value="([^"]+)"/.exec(form.body)![1]!;
  expect(cookie).toBe(`mdt_csrf=${field}`);
  return { cookie, field };
}
async function signIn(token: string, lang = 'en') {
  const c = await csrf();
  const res = await t.app.inject({
    method: 'POST',
    url: `/dashboard/sign-in?lang=${lang}`,
    headers: { origin, cookie: c.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `csrf=${c.field}&token=${encodeURIComponent(token)}`,
  });
  expect(res.statusCode).toBe(303);
  return `${c.cookie}; ${
    [res.headers['set-cookie']]
      .flat()
      .find((h) => String(h).startsWith('mdt_session='))!
      .split(';')[0]
  }`;
}
const get = (url: string, cookie?: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url, headers: { ...(cookie ? { cookie } : {}), ...headers } });

describe('the dashboard', () => {
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
  });

  it('signs in with an API token into an HttpOnly, SameSite=Strict cookie, and refuses bad tokens, other origins and missing CSRF tokens', async () => {
    const c = await csrf();
    const post = (headers: Record<string, string>, payload: string) =>
      t.app.inject({ method: 'POST', url: '/dashboard/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload });
    const bad = await post({ origin, cookie: c.cookie }, `csrf=${c.field}&token=mdt_nope`);
    expect(bad.statusCode).toBe(401);
    expect(bad.headers['set-cookie']).toBeUndefined();
    expect((await post({ origin: 'https://evil.example', cookie: c.cookie }, `csrf=${c.field}&token=${admin.token}`)).statusCode).toBe(403);
    // A forged form: no CSRF cookie, or a field that does not match it.
    expect((await post({ origin }, `csrf=${c.field}&token=${admin.token}`)).statusCode).toBe(403);
    expect((await post({ origin, cookie: c.cookie }, `csrf=${'A'.repeat(43)}&token=${admin.token}`)).statusCode).toBe(403);
    expect((await post({ origin, cookie: c.cookie }, `token=${admin.token}`)).statusCode).toBe(403);
    const ok = await post({ origin, cookie: c.cookie }, `csrf=${c.field}&token=${admin.token}`);
    // The cookie holds a session's random secret, never the token itself (a stolen cookie is no API bearer).
    const set = String([ok.headers['set-cookie']].flat().find((h) => String(h).startsWith('mdt_session=')));
    expect(set).toMatch(/^mdt_session=[A-Za-z0-9_-]{43};/);
    expect(set).not.toContain(admin.token);
    expect(set.split('; ').slice(1).sort()).toEqual(['HttpOnly', 'Max-Age=28800', 'Path=/dashboard', 'SameSite=Strict']);
  });

  it('shows the program with its figures, gates, burndown chart, owners, risks and blast radius, escaping every name', async () => {
    const cookie = await signIn(admin.token);
    const list = await get('/dashboard', cookie);
    expect(list.body).toContain('Legacy &lt;b&gt;mail&lt;/b&gt; shutdown');
    const res = await get(`/dashboard/programs/${programId}`, cookie);
    expect(res.statusCode).toBe(200);
    const body = res.body;
    expect(body).toMatch(/<b id="days-to-shutdown">29<\/b>/);
    expect(body).toMatch(/<b id="blast-radius">2<\/b>/);
    expect(body).toMatch(/id="gate-spf"><span class="bad">no<\/span>/);
    expect(body).toMatch(/<svg [^>]*data-points="32"/);
    expect(body).toMatch(/<polyline class="series-customers"[^>]*points="(\d+\.\d,\d+\.\d ?){32}"/);
    expect(body).toContain('<td data-status="not_contacted">1</td>');
    expect(body).toContain('<td>営業1部</td><td>鈴木</td>');
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body).not.toContain('<script>alert(1)</script>');
  });

  it('applies the token\u2019s visibility, speaks Japanese, and lets revocation and sign-out end the session', async () => {
    const cookie = await signIn(sales.token, 'ja');
    const res = await get(`/dashboard/programs/${programId}?lang=ja`, cookie);
    expect(res.body).toMatch(/<b id="blast-radius">1<\/b>/);
    expect(res.body).toContain('削除で障害となるドメイン');
    expect(res.body).not.toContain('Tanaka');
    await revokeToken(t.db, sales.id, { name: 'test' }, now);
    expect((await get(`/dashboard/programs/${programId}`, cookie)).statusCode).toBe(303);
    const adminCookie = await signIn(admin.token);
    const forged = await t.app.inject({ method: 'POST', url: '/dashboard/sign-out', headers: { origin, cookie: adminCookie } });
    expect(forged.statusCode).toBe(403);
    const field = adminCookie.split(';')[0]!.split('=')[1]!;
    const out = await t.app.inject({
      method: 'POST',
      url: '/dashboard/sign-out',
      headers: { origin, cookie: adminCookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `csrf=${field}`,
    });
    expect(out.statusCode).toBe(303);
    expect(out.headers['set-cookie']).toMatch(/Max-Age=0/);
  });
});
