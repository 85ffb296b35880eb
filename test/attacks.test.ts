import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { eq, sql } from 'drizzle-orm';
import { parse } from 'csv-parse/sync';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationsFolder } from '../db/migrate.ts';
import { customers, dashboardSessions, salesOwners } from '../db/schema/index.ts';
import { createBullRuntime } from '../jobs/bullmq.ts';
import { loadConfig } from '../src/config.ts';
import { loggerOptions } from '../src/logging.ts';
import { revokeToken } from '../src/tokens/token-service.ts';
import { buildAppOn, buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { openTestDatabase } from './helpers/database.ts';
import { makeCustomer, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/*
 * Security, round two: each test is an attack that used to work, asserting what happens now.
 */

const apps: TestApp[] = [];
afterAll(async () => {
  for (const app of apps) await app.close();
});
async function appWith(env: Record<string, string> = {}) {
  const t = await buildTestApp({ env });
  apps.push(t);
  return t;
}

describe('the per-token limit', () => {
  it('counts one token however its Authorization header is spaced or cased (Bearer<TAB>tok, extra spaces)', async () => {
    const t = await appWith({ RATE_LIMIT_PER_TOKEN: '5', RATE_LIMIT_PER_IP: '0' });
    const { token } = await makeToken(t.db, 'admin');
    const variants = [`Bearer ${token}`, `Bearer\t${token}`, `Bearer   ${token}  `, `bearer ${token}`, `BEARER \t ${token}`, `Bearer\t\t${token}\t`];
    const answers = [];
    for (const authorization of variants) answers.push((await t.app.inject({ method: 'GET', url: '/v1/programs', headers: { authorization } })).statusCode);
    // All six are the same token to the authentication, so all six count against its five a minute.
    expect(answers).toEqual([200, 200, 200, 200, 200, 429]);
  });
});

describe('both limits at once', () => {
  it('counts every request against both, and the tighter one answers (its headers, its 429)', async () => {
    const t = await appWith({ RATE_LIMIT_PER_TOKEN: '5', RATE_LIMIT_PER_IP: '3' });
    const { token } = await makeToken(t.db, 'admin');
    const from = (remoteAddress: string) => t.app.inject({ method: 'GET', url: '/v1/programs', remoteAddress, headers: { authorization: `Bearer ${token}` } });
    const seen = [];
    for (let i = 0; i < 4; i++) {
      const res = await from('198.51.100.20');
      seen.push([res.statusCode, res.headers['ratelimit-limit'], res.headers['ratelimit-remaining']]);
    }
    // The address's 3 a minute is tighter than the token's 5 until the address is spent.
    expect(seen).toEqual([
      [200, '3', '2'],
      [200, '3', '1'],
      [200, '3', '0'],
      [429, '3', '0'],
    ]);
    // From another address the token's own count (4 so far, the refused request included) is the tighter.
    const other = await from('198.51.100.21');
    expect([other.statusCode, other.headers['ratelimit-limit'], other.headers['ratelimit-remaining']]).toEqual([200, '5', '0']);
    const over = await from('198.51.100.22');
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ code: 'APP_RATE_LIMITED', detail: expect.stringContaining('More than 5 requests a minute') });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('the per-address limit', () => {
  it('counts an IPv6 /64 as one client: a new address of the same prefix gets no fresh quota', async () => {
    const t = await appWith({ RATE_LIMIT_PER_TOKEN: '0', RATE_LIMIT_PER_IP: '3' });
    const from = (remoteAddress: string) => t.app.inject({ method: 'GET', url: '/v1/programs', remoteAddress });
    const answers = [];
    for (const host of ['::1', '::2', ':abcd:ef01:2345:6789', ':ffff:ffff:ffff:fffe']) answers.push((await from(`2001:db8:1:2${host}`)).statusCode);
    expect(answers).toEqual([401, 401, 401, 429]);
    // Another /64, and an IPv4 client, have counts of their own; an IPv4-mapped address is its IPv4 address.
    expect((await from('2001:db8:1:3::1')).statusCode).toBe(401);
    expect((await from('198.51.100.9')).statusCode).toBe(401);
    for (let i = 0; i < 2; i++) await from('198.51.100.9');
    expect((await from('::ffff:198.51.100.9')).statusCode).toBe(429);
  });
});

const call = (t: TestApp, method: 'GET' | 'POST' | 'PATCH', url: string, auth: Record<string, string>, body?: object, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url, headers: { ...auth, ...headers }, ...(body ? { payload: body } : {}) });

describe('a deactivated sales owner', () => {
  it('loses the API at once: their token answers 401 saying why, and works again when they are reactivated', async () => {
    const t = await appWith();
    const owner = await makeSalesOwner(t.db);
    const rep = await makeToken(t.db, 'sales', { salesOwnerId: owner.id });
    const admin = await makeToken(t.db, 'admin');
    expect((await call(t, 'GET', '/v1/customers', rep.auth)).statusCode).toBe(200);

    expect((await call(t, 'PATCH', `/v1/sales-owners/${owner.id}`, admin.auth, { active: false }, { 'if-match': '"1"' })).statusCode).toBe(200);
    const refused = await call(t, 'GET', '/v1/customers', rep.auth);
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toMatchObject({ code: 'APP_UNAUTHENTICATED', detail: expect.stringMatching(/deactivated/) });

    expect((await call(t, 'PATCH', `/v1/sales-owners/${owner.id}`, admin.auth, { active: true }, { 'if-match': '"2"' })).statusCode).toBe(200);
    expect((await call(t, 'GET', '/v1/customers', rep.auth)).statusCode).toBe(200);
  });
});

describe("another department's sales owner as managerId", () => {
  it('does not exist for a manager (404), whether creating an owner or changing one, and nothing is written', async () => {
    const t = await appWith();
    const theirs = await makeSalesOwner(t.db, { department: 'Sales 2' });
    const ours = await makeSalesOwner(t.db, { department: 'Sales 1' });
    const manager = await makeToken(t.db, 'manager', { department: 'Sales 1' });
    const created = await call(t, 'POST', '/v1/sales-owners', manager.auth, {
      name: '新人',
      email: 'new@example.jp',
      department: 'Sales 1',
      managerId: theirs.id,
    });
    expect(created.statusCode).toBe(404);
    expect(created.json()).toMatchObject({ code: 'APP_SALES_OWNER_NOT_FOUND', errors: [{ path: 'body.managerId' }] });
    const changed = await call(t, 'PATCH', `/v1/sales-owners/${ours.id}`, manager.auth, { managerId: theirs.id }, { 'if-match': '"1"' });
    expect(changed.statusCode).toBe(404);
    // The same answer as for an owner that does not exist at all, so the answer leaks nothing.
    const unknown = await call(t, 'PATCH', `/v1/sales-owners/${ours.id}`, manager.auth, { managerId: randomUUID() }, { 'if-match': '"1"' });
    expect({ status: unknown.statusCode, code: unknown.json().code }).toEqual({ status: 404, code: 'APP_SALES_OWNER_NOT_FOUND' });
    const [row] = await t.db.select().from(salesOwners).where(eq(salesOwners.id, ours.id));
    expect(row).toMatchObject({ managerId: null, version: 1 });
    expect((await call(t, 'GET', '/v1/sales-owners?q=new%40example.jp', manager.auth)).json().items).toEqual([]);
    // An admin sees every department and may do it.
    const admin = await makeToken(t.db, 'admin');
    expect((await call(t, 'PATCH', `/v1/sales-owners/${ours.id}`, admin.auth, { managerId: theirs.id }, { 'if-match': '"1"' })).statusCode).toBe(200);
  });
});

describe('secrets in output', () => {
  it('a configuration error names the variable but never shows a secret or a URL password', () => {
    const attempt = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('the configuration was accepted');
    };
    const bad = attempt({
      DATABASE_URL: 'mysql://mdt:hunter2-db@db.internal/mdt',
      REDIS_URL: 'redis://:hunter2-redis@',
      NOTIFY_WEBHOOK_URL: 'https://hooks.example/x?token=hunter2-query',
      NOTIFY_WEBHOOK_SECRET: 'hunter2-short',
      PORT: 'eighty',
    });
    expect(bad).toMatch(/DATABASE_URL: expected a postgres:\/\/ URL \(got "mysql:\/\/mdt:\*\*\*@db\.internal\/mdt"\)/);
    expect(bad).toMatch(/NOTIFY_WEBHOOK_SECRET: use at least 16 characters \(got a value of 13 characters, not shown\)/);
    expect(bad).toMatch(/PORT: .*"eighty"/);
    expect(bad).not.toMatch(/hunter2/);
  });

  /** An app whose log lines, at info, are collected. */
  async function withLog(fn: (t: TestApp, lines: () => string) => Promise<void>) {
    const collected: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (collected.push(String(chunk)), done()) });
    const logger = pino(loggerOptions(loadConfig({ LOG_LEVEL: 'info' })) as object, sink);
    const database = await openTestDatabase();
    const { app, close } = await buildAppOn(database, { logger });
    try {
      await fn({ app, db: database.db, databaseUrl: database.url, jobs: undefined as never, close }, () => collected.join(''));
    } finally {
      await close();
      await database.drop();
    }
  }

  it('a token sent in the query string never reaches the request log; other parameters do', () =>
    withLog(async (t, lines) => {
      const { token } = await makeToken(t.db, 'admin');
      for (const name of ['token', 'access_token', 'key', 'Token', 'api%5Fkey']) {
        await t.app.inject({ method: 'GET', url: `/v1/programs?limit=7&${name}=${token}` });
      }
      expect(lines()).not.toContain(token);
      expect(lines()).toContain('/v1/programs?limit=7&access_token=[redacted]');
      expect(lines()).toContain('api%5Fkey=[redacted]');
    }));

  it('a failed statement is logged without its parameters (the customer data it carried)', () =>
    withLog(async (t, lines) => {
      const admin = await makeToken(t.db, 'admin');
      const program = await makeProgram(t.db);
      const owner = await makeSalesOwner(t.db);
      // A schema the code does not expect: the insert fails in the database, a 500.
      await t.db.execute(sql`ALTER TABLE customers RENAME COLUMN notes TO notes_elsewhere`);
      const res = await call(t, 'POST', '/v1/customers', admin.auth, {
        programId: program.id,
        externalRef: 'SECRET-REF-4711',
        name: '山田秘密商事',
        salesOwnerId: owner.id,
        notes: '社長の携帯 090-0000-4711',
      });
      expect(res.statusCode).toBe(500);
      const failed = lines()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .find((l) => l.msg === 'request failed');
      expect(failed.err.message).toMatch(/^Failed query: insert into "customers"[\s\S]*\nparams: \[redacted\]$/);
      expect(lines()).not.toMatch(/山田秘密商事|SECRET-REF-4711|090-0000-4711/);
    }));
});

describe('CSV injection with full-width characters', () => {
  it('neutralizes ＝ ＋ － ＠ at the start of a cell like their ASCII forms', async () => {
    const t = await appWith();
    const admin = await makeToken(t.db, 'admin');
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    const names = ['＝HYPERLINK("http://evil.example","click")', '＋1+1', '－1+1', '＠SUM(A1)', '=1+1', '株式会社 ＝ みなと'];
    for (const [i, name] of names.entries()) await makeCustomer(t.db, program.id, owner.id, { name, externalRef: `CSV-${i}` });
    const res = await call(t, 'GET', `/v1/customers.csv?programId=${program.id}`, admin.auth);
    expect(res.statusCode).toBe(200);
    const rows = parse(res.body.slice(1), { columns: true }) as { external_ref: string; customer_name: string }[];
    const nameOf = new Map(rows.map((r) => [r.external_ref, r.customer_name]));
    expect(names.map((_, i) => nameOf.get(`CSV-${i}`))).toEqual([
      `'＝HYPERLINK("http://evil.example","click")`,
      "'＋1+1",
      "'－1+1",
      "'＠SUM(A1)",
      "'=1+1",
      '株式会社 ＝ みなと', // not at the start: nothing to neutralize
    ]);
  });
});

describe('the operations endpoints', () => {
  it('/readyz says which dependency is down, never the driver text (hosts, ports, users)', async () => {
    const down = await buildTestApp({ jobs: () => createBullRuntime({ redisUrl: 'redis://ops:hunter2@127.0.0.1:1', prefix: 'unreachable' }, () => {}) });
    apps.push(down);
    const res = await down.app.inject({ method: 'GET', url: '/readyz' });
    // Degraded, not unready: the API serves on without Redis (a load balancer keeps it in rotation).
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'degraded', checks: { database: { ok: true }, jobs: { ok: false, error: 'unreachable' } } });
    expect(res.body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|hunter2|ops@|:1\b/);
  });

  it('/metrics answers only this machine without METRICS_TOKEN, and only the token with one', async () => {
    const open = await appWith();
    const from = (t: TestApp, remoteAddress: string, authorization?: string) =>
      t.app.inject({ method: 'GET', url: '/metrics', remoteAddress, headers: authorization ? { authorization } : {} });
    expect((await from(open, '127.0.0.1')).statusCode).toBe(200);
    expect((await from(open, '::1')).statusCode).toBe(200);
    const remote = await from(open, '203.0.113.5');
    expect(remote.statusCode).toBe(403);
    expect(remote.body).not.toContain('http_request_duration_seconds');
    // Behind a trusted proxy on this machine, the client is the forwarded address, not the proxy.
    const proxied = await appWith({ TRUST_PROXY_HOPS: '1' });
    const viaProxy = await proxied.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.5' } });
    expect(viaProxy.statusCode).toBe(403);

    const secret = 'metrics-token-0123456789';
    const guarded = await appWith({ METRICS_TOKEN: secret });
    expect((await from(guarded, '203.0.113.5', `Bearer ${secret}`)).statusCode).toBe(200);
    expect((await from(guarded, '203.0.113.5', `Bearer ${secret}x`)).statusCode).toBe(403);
    expect((await from(guarded, '127.0.0.1')).statusCode).toBe(403); // with a token configured, loopback needs it too
  });
});

describe('dashboard sessions', () => {
  let clock = new Date('2026-12-01T09:00:00Z');
  const origin = 'http://localhost:80';

  async function signIn(t: TestApp, token: string, headers: Record<string, string> = {}) {
    const form = await t.app.inject({ method: 'GET', url: '/dashboard/sign-in', headers });
    const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)![1]!;
    const res = await t.app.inject({
      method: 'POST',
      url: '/dashboard/sign-in',
      headers: {
        origin: headers['x-forwarded-proto'] === 'https' ? 'https://localhost:80' : origin,
        cookie: `mdt_csrf=${csrf}`,
        'content-type': 'application/x-www-form-urlencoded',
        ...headers,
      },
      payload: `csrf=${csrf}&token=${encodeURIComponent(token)}`,
    });
    expect(res.statusCode).toBe(303);
    const set = String([res.headers['set-cookie']].flat().find((h) => String(h).startsWith('mdt_session=')));
    return { set, csrf, cookie: `mdt_csrf=${csrf}; ${set.split(';')[0]}`, secret: set.split(';')[0]!.split('=')[1]! };
  }
  const page = (t: TestApp, cookie: string) => t.app.inject({ method: 'GET', url: '/dashboard', headers: { cookie } });

  it('a stolen cookie is no API token, and is dead after sign-out, revocation, 1 h idle or 8 h', async () => {
    const t = await buildTestApp({ now: () => clock });
    apps.push(t);
    const rep = await makeToken(t.db, 'manager', { department: 'Sales 1' });

    // The cookie holds a session secret, stored only as a hash; as a bearer it opens nothing.
    const a = await signIn(t, rep.token);
    expect(a.set).not.toContain(rep.token);
    expect((await page(t, a.cookie)).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/v1/programs', headers: { authorization: `Bearer ${a.secret}` } })).statusCode).toBe(401);
    const [stored] = await t.db.select().from(dashboardSessions).where(eq(dashboardSessions.tokenId, rep.id));
    expect(stored!.secretHash).not.toContain(a.secret);

    // Sign-out ends the session on the server: the old cookie, replayed, gets the sign-in page.
    const out = await t.app.inject({
      method: 'POST',
      url: '/dashboard/sign-out',
      headers: { origin, cookie: a.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `csrf=${a.csrf}`,
    });
    expect(out.statusCode).toBe(303);
    expect((await page(t, a.cookie)).statusCode).toBe(303);

    // Idle for over an hour: over. Active, it lasts until 8 h after sign-in, no longer.
    const b = await signIn(t, rep.token);
    clock = new Date(clock.getTime() + 61 * 60_000);
    expect((await page(t, b.cookie)).statusCode).toBe(303);
    const c = await signIn(t, rep.token);
    for (let i = 0; i < 8; i++) {
      clock = new Date(clock.getTime() + 55 * 60_000);
      expect((await page(t, c.cookie)).statusCode, `after ${(i + 1) * 55} min`).toBe(200);
    }
    clock = new Date(clock.getTime() + 41 * 60_000); // 481 min after sign-in
    expect((await page(t, c.cookie)).statusCode).toBe(303);

    // Revoking the token ends its sessions.
    const d = await signIn(t, rep.token);
    expect((await page(t, d.cookie)).statusCode).toBe(200);
    await revokeToken(t.db, rep.id, { name: 'test' }, clock);
    expect((await page(t, d.cookie)).statusCode).toBe(303);
  });

  it('admins list sessions and end one; the cookie is Secure when the request came over HTTPS through a trusted proxy', async () => {
    const t = await buildTestApp({ now: () => clock, env: { TRUST_PROXY_HOPS: '1' } });
    apps.push(t);
    const admin = await makeToken(t.db, 'admin');
    const rep = await makeToken(t.db, 'manager', { department: 'Sales 1' });
    const plain = await signIn(t, rep.token);
    expect(plain.set).not.toMatch(/Secure/);
    const tls = await signIn(t, rep.token, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' });
    expect(tls.set).toMatch(/; Secure/);

    const listed = await t.app.inject({ method: 'GET', url: '/v1/sessions?active=true', headers: admin.auth });
    expect(listed.statusCode).toBe(200);
    const items = listed.json().items as { id: string; tokenId: string; state: string }[];
    expect(items.filter((s) => s.tokenId === rep.id)).toHaveLength(2);
    expect(listed.body).not.toContain(plain.secret);
    const target = items.find((s) => s.tokenId === rep.id)!;
    expect((await t.app.inject({ method: 'GET', url: '/v1/sessions', headers: rep.auth })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/sessions/${target.id}`, headers: admin.auth })).statusCode).toBe(204);
    const after = (await t.app.inject({ method: 'GET', url: '/v1/sessions', headers: admin.auth })).json().items as {
      id: string;
      state: string;
      endReason: string;
    }[];
    expect(after.find((s) => s.id === target.id)).toMatchObject({ state: 'ended', endReason: expect.stringMatching(/^revoked by token:/) });
    const answers = await Promise.all([plain, tls].map(async (s) => (await page(t, s.cookie)).statusCode));
    expect(answers.sort()).toEqual([200, 303]);
  });
});

describe('look-alike references and domains', () => {
  it('an external ref is stored in one spelling (NFKC) and refused with an invisible character, through the API and the import', async () => {
    const t = await appWith();
    const admin = await makeToken(t.db, 'admin');
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    const create = (externalRef: string) =>
      call(t, 'POST', '/v1/customers', admin.auth, { programId: program.id, externalRef, name: 'ZW', salesOwnerId: owner.id });
    const first = await create('ＺＷ-1');
    expect(first.statusCode).toBe(201);
    expect(first.json().externalRef).toBe('ZW-1');
    expect((await create('ZW-1')).json()).toMatchObject({ code: 'APP_EXTERNAL_REF_TAKEN' });
    for (const invisible of ['ZW-1\u200b', 'ZW\u200d-1', '\ufeffZW-1', 'ZW\u00ad-1']) {
      const res = await create(invisible);
      expect(res.statusCode).toBe(400);
      expect(res.json().errors[0]).toMatchObject({ path: 'body.externalRef', message: expect.stringMatching(/invisible character \(U\+/) });
    }

    const csv = (rows: string[]) =>
      t.app.inject({
        method: 'POST',
        url: `/v1/programs/${program.id}/imports?allOrNothing=false`,
        headers: { ...admin.auth, 'content-type': 'text/csv' },
        payload: ['external_ref,customer_name,sales_owner_email', ...rows].join('\n'),
      });
    const imported = await csv([`ＺＷ-1,Renamed,${owner.email}`, `ZW-2\u200b,Hidden,${owner.email}`]);
    expect(imported.json()).toMatchObject({ created: 0, updated: 1, errorCount: 1 });
    expect(imported.json().errors[0]).toMatchObject({ line: 3, column: 'external_ref', message: expect.stringMatching(/U\+200B/) });
    expect(await t.db.$count(customers, eq(customers.programId, program.id))).toBe(1);
  });

  it('migration 0016 respells stored refs, leaving those whose normal form another customer shares', async () => {
    const t = await appWith();
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    for (const ref of ['ＺＷ-9', 'ＡＢ-1', 'AB-1', 'ＣＤ-1', 'ＣＤ－1']) await makeCustomer(t.db, program.id, owner.id, { externalRef: ref });
    const statement = readFileSync(join(migrationsFolder, '0016_external_ref_nfkc.sql'), 'utf8');
    await t.db.execute(sql.raw(statement));
    const refs = (await t.db.select({ ref: customers.externalRef }).from(customers).where(eq(customers.programId, program.id))).map((r) => r.ref).sort();
    expect(refs).toEqual(['AB-1', 'ZW-9', 'ＡＢ-1', 'ＣＤ-1', 'ＣＤ－1'].sort());
  });

  it('a domain mixing scripts (a Cyrillic а in apple) is flagged with its punycode; Japanese names are not', async () => {
    const t = await appWith();
    const admin = await makeToken(t.db, 'admin');
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    const res = await call(t, 'POST', '/v1/customers', admin.auth, {
      programId: program.id,
      externalRef: 'LA-1',
      name: 'Look-alike',
      salesOwnerId: owner.id,
      domains: ['\u0430pple.com', 'サンプル商事.jp', 'apple.com'],
    });
    expect(res.statusCode).toBe(201);
    const byName = Object.fromEntries((res.json().domains as { name: string; mixedScriptLabels: string[] }[]).map((d) => [d.name, d.mixedScriptLabels]));
    expect(byName).toEqual({ 'xn--pple-43d.com': ['\u0430pple'], 'xn--vck8cuc4a5555ampi.jp': [], 'apple.com': [] });
  });
});
