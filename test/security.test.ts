import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, rowsOf, type Db } from '../db/client.ts';
import { auditLog } from '../db/schema/index.ts';
import { InlineJobRuntime } from '../jobs/inline.ts';
import { buildApp } from '../src/app.ts';
import { loggerOptions } from '../src/logging.ts';
import { loadConfig } from '../src/config.ts';
import { createResolver } from '../src/dns/resolver.ts';
import { buildAppOn, buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { createTestDatabase, openTestDatabase } from './helpers/database.ts';
import { TEST_REDIS_URL } from './helpers/env.ts';
import { makeProgram, makeToken, programBody } from './helpers/factories.ts';

const apps: TestApp[] = [];
afterAll(async () => {
  for (const app of apps) await app.close();
});
async function appWith(env: Record<string, string>) {
  const t = await buildTestApp({ env });
  apps.push(t);
  return t;
}
const get = (t: TestApp, url: string, token?: string, remoteAddress = '127.0.0.1') =>
  t.app.inject({ method: 'GET', url, remoteAddress, headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('rate limits', () => {
  it('allow RATE_LIMIT_PER_TOKEN requests a minute per token, then answer 429 problem+json with Retry-After', async () => {
    const t = await appWith({ RATE_LIMIT_PER_TOKEN: '5', RATE_LIMIT_PER_IP: '0' });
    const a = (await makeToken(t.db, 'admin')).token;
    const b = (await makeToken(t.db, 'admin')).token;
    for (let i = 0; i < 5; i++) {
      const res = await get(t, '/v1/programs', a);
      expect(res.statusCode).toBe(200);
      expect(res.headers).toMatchObject({ 'ratelimit-limit': '5', 'ratelimit-remaining': String(4 - i), 'x-content-type-options': 'nosniff' });
    }
    const over = await get(t, '/v1/programs', a);
    expect(over.statusCode).toBe(429);
    expect(over.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(over.json()).toMatchObject({ code: 'APP_RATE_LIMITED', detail: expect.stringContaining('More than 5 requests a minute') });
    expect((await get(t, '/v1/programs', b)).statusCode).toBe(200); // another token has its own count
    expect((await get(t, '/healthz')).statusCode).toBe(200); // probes are never limited
  });

  it('allow RATE_LIMIT_PER_IP requests a minute per client address, signed in or not (forged tokens included)', async () => {
    const t = await appWith({ RATE_LIMIT_PER_TOKEN: '0', RATE_LIMIT_PER_IP: '4' });
    for (let i = 0; i < 4; i++) expect((await get(t, '/v1/programs', `mdt_forged${i}`, '198.51.100.7')).statusCode).toBe(401);
    expect((await get(t, '/v1/programs', 'mdt_forged9', '198.51.100.7')).statusCode).toBe(429);
    expect((await get(t, '/v1/programs', undefined, '198.51.100.8')).statusCode).toBe(401);
  });

  it('share one count through Redis between API processes, and let requests through when Redis is down', async () => {
    const prefix = `mdt-rl-${randomBytes(4).toString('hex')}`;
    const env = { RATE_LIMIT_PER_TOKEN: '6', RATE_LIMIT_PER_IP: '0', REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix };
    const one = await appWith(env);
    const token = (await makeToken(one.db, 'admin')).token;
    // A second API instance on the same database and Redis, as another process would be.
    const two = await buildApp(loadConfig(env), {
      database: { db: one.db, kind: 'postgres', location: 'test', client: undefined as never, ping: async () => {}, close: async () => {} },
      jobs: new InlineJobRuntime(
        { db: one.db, now: () => new Date(), log: pino({ level: 'silent' }), dns: createResolver() },
        { concurrency: 1, schedules: [] },
      ),
      logger: pino({ level: 'silent' }),
    });
    await two.ready();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++)
        statuses.push((await (i % 2 ? two : one.app).inject({ method: 'GET', url: '/v1/programs', headers: { authorization: `Bearer ${token}` } })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429]);
    } finally {
      await two.close();
    }
    const noRedis = await appWith({ ...env, REDIS_URL: 'redis://127.0.0.1:1' });
    const t2 = (await makeToken(noRedis.db, 'admin')).token;
    for (let i = 0; i < 8; i++) expect((await get(noRedis, '/v1/programs', t2)).statusCode).toBe(200);
  });
});

describe('request limits', () => {
  it('refuses a body over BODY_LIMIT_BYTES with 413 and cuts a client that does not finish its request in REQUEST_TIMEOUT_MS', async () => {
    const t = await appWith({ BODY_LIMIT_BYTES: '2048', REQUEST_TIMEOUT_MS: '600' });
    const token = (await makeToken(t.db, 'admin')).token;
    const big = await t.app.inject({
      method: 'POST',
      url: '/v1/programs',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(4000) }),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ code: 'APP_BODY_TOO_LARGE' });

    const base = new URL(await t.app.listen({ host: '127.0.0.1', port: 0 }));
    const socket = net.connect(Number(base.port), '127.0.0.1');
    const started = Date.now();
    // Headers and half a body, then nothing: the slow-client attack a request timeout stops.
    socket.write(
      `POST /v1/programs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`,
    );
    const answer = await new Promise<string>((resolve) => {
      let data = '';
      socket.on('data', (chunk) => (data += chunk));
      socket.on('close', () => resolve(data));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('database sessions', () => {
  it('run without JIT compilation or parallel workers (db/client.ts says why), on every pooled connection', async () => {
    const created = await createTestDatabase();
    const database = await openDatabase({ databaseUrl: created.url, dataDir: '' });
    try {
      // Several at once, so the pool opens several connections.
      const answers = await Promise.all(
        Array.from({ length: 4 }, () =>
          database.db.execute(
            sql`SELECT current_setting('jit') AS jit, current_setting('max_parallel_workers_per_gather') AS parallel, pg_backend_pid() AS pid, pg_sleep(0.05)`,
          ),
        ),
      );
      const rows = answers.map((a) => rowsOf<{ jit: string; parallel: string; pid: number }>(a)[0]!);
      expect(new Set(rows.map((r) => r.pid)).size).toBeGreaterThan(1);
      expect(rows.map((r) => [r.jit, r.parallel])).toEqual(rows.map(() => ['off', '0']));
    } finally {
      await database.close();
      await created.drop();
    }
  });
});

describe('statement timeout', () => {
  it('cancels a statement over STATEMENT_TIMEOUT_MS: 503 problem+json, and nothing is changed', async () => {
    const created = await createTestDatabase();
    const database = await openDatabase({ databaseUrl: created.url, dataDir: '', statementTimeoutMs: 300 });
    const { app, close } = await buildAppOn(database);
    const blocker = new pg.Client({ connectionString: created.url });
    try {
      const program = await makeProgram(database.db, { name: 'before' });
      const { token } = await makeToken(database.db, 'admin');
      const headers = { authorization: `Bearer ${token}` };
      const etag = String((await app.inject({ method: 'GET', url: `/v1/programs/${program.id}`, headers })).headers.etag);
      // Another session holds the row, so the update waits on its lock until the timeout.
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM programs WHERE id = $1 FOR UPDATE', [program.id]);
      const res = await app.inject({
        method: 'PATCH',
        url: `/v1/programs/${program.id}`,
        headers: { ...headers, 'if-match': etag },
        payload: { name: 'after' },
      });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'APP_DATABASE_TIMEOUT' });
      await blocker.query('ROLLBACK');
      const after = await app.inject({ method: 'GET', url: `/v1/programs/${program.id}`, headers });
      expect(after.json()).toMatchObject({ name: 'before' });
      expect(after.headers.etag).toBe(etag);
    } finally {
      await blocker.end();
      await close();
      await database.close();
      await created.drop();
    }
  });
});

describe('the audit log', () => {
  it('is append-only: the database refuses UPDATE, DELETE and TRUNCATE from the app’s own connection', async () => {
    const t = await appWith({});
    const { token } = await makeToken(t.db, 'admin');
    await t.app.inject({ method: 'POST', url: '/v1/programs', headers: { authorization: `Bearer ${token}` }, payload: programBody() });
    const [row] = await t.db.select().from(auditLog).limit(1);
    expect(row).toBeDefined();
    for (const statement of [
      sql`UPDATE audit_log SET action = 'forged' WHERE id = ${row!.id}`,
      sql`DELETE FROM audit_log WHERE id = ${row!.id}`,
      sql`TRUNCATE audit_log`,
    ]) {
      await expect(t.db.execute(statement)).rejects.toMatchObject({ cause: { code: '42501' } });
    }
    expect(await t.db.$count(auditLog)).toBeGreaterThan(0);
  });
});

describe('logs', () => {
  /** An app on a fresh database whose log lines, at `level`, are collected in `lines`. */
  async function withLogLines(
    level: string,
    fn: (t: { db: Db; app: Awaited<ReturnType<typeof buildAppOn>>['app']; log: Logger; lines: string[] }) => Promise<void>,
  ) {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const database = await openTestDatabase();
    const log = pino(loggerOptions(loadConfig({ LOG_LEVEL: level })) as object, sink);
    const { app, close } = await buildAppOn(database, { logger: log });
    try {
      await fn({ db: database.db, app, log, lines });
    } finally {
      await close();
      await database.drop();
    }
  }

  it("name the caller's token and role on every line of an authenticated request, its completion too", () =>
    withLogLines('info', async ({ db, app, lines }) => {
      const { token, id } = await makeToken(db, 'manager', { department: 'Sales 1' });
      const res = await app.inject({ method: 'GET', url: '/v1/programs', headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-logs-1' } });
      expect(res.statusCode).toBe(200);
      const ofRequest = lines.map((l) => JSON.parse(l)).filter((l) => l.reqId === 'req-logs-1');
      const completed = ofRequest.find((l) => l.msg === 'request completed');
      expect(completed).toMatchObject({ tokenId: id, role: 'manager', res: { statusCode: 200 } });
    }));

  it('never contain a token or a session cookie, whatever the request', () =>
    withLogLines('trace', async ({ db, app, log, lines }) => {
      const { token } = await makeToken(db, 'admin');
      const program = await makeProgram(db);
      const auth = { authorization: `Bearer ${token}` };
      await app.inject({ method: 'GET', url: `/v1/programs/${program.id}`, headers: auth });
      await app.inject({ method: 'POST', url: '/v1/programs', headers: { ...auth, 'content-type': 'application/json' }, payload: '{broken' });
      await app.inject({ method: 'GET', url: '/v1/programs', headers: { authorization: `Bearer ${token}x` } });
      await app.inject({
        method: 'POST',
        url: '/dashboard/sign-in',
        headers: { origin: 'http://localhost:80', 'content-type': 'application/x-www-form-urlencoded' },
        payload: `token=${token}`,
      });
      await app.inject({ method: 'GET', url: '/dashboard', headers: { cookie: `mdt_session=${token}` } });
      log.info({ token, req: { headers: { authorization: `Bearer ${token}` } }, webhook: { secret: 's3cret-s3cret-s3cret' } }, 'a careless log line');
      const text = lines.join('');
      expect(lines.length).toBeGreaterThan(10);
      expect(text).not.toContain(token.slice(4));
      expect(text).not.toContain('s3cret-s3cret-s3cret');
      expect(text).toContain('[redacted]');
    }));
});
