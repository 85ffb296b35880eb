import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokens, auditLog } from '../db/schema/index.ts';
import { createToken, hashToken, revokeToken } from '../src/tokens/token-service.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeSalesOwner, makeToken } from './helpers/factories.ts';

let t: TestApp;
let clock = new Date('2026-01-01T00:00:00Z');

beforeAll(async () => {
  t = await buildTestApp({ now: () => clock });
});
afterAll(() => t.close());

const list = (headers: Record<string, string>) => t.app.inject({ method: 'GET', url: '/v1/programs', headers });

describe('API tokens', () => {
  it('are random 32-byte secrets stored only as a SHA-256 hash', async () => {
    const a = await makeToken(t.db, 'admin');
    const b = await makeToken(t.db, 'admin');
    expect(a.token).toMatch(/^mdt_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.token.slice(4), 'base64url')).toHaveLength(32);
    expect(a.token).not.toBe(b.token);
    const [row] = await t.db.select().from(apiTokens).where(eq(apiTokens.id, a.id));
    expect(row!.tokenHash).toBe(hashToken(a.token));
    expect(JSON.stringify(row)).not.toContain(a.token);
  });

  it('stop working at once when revoked, and the revocation is audited', async () => {
    const { id, auth } = await makeToken(t.db, 'admin');
    expect((await list(auth)).statusCode).toBe(200);
    await revokeToken(t.db, id, { name: 'test' }, clock);
    const res = await list(auth);
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/revoked/);
    const audit = await t.db.select().from(auditLog).where(eq(auditLog.entityId, id));
    expect(audit.map((a) => a.action)).toEqual(['token.create', 'token.revoke']);
  });

  it('expire at their expiry time', async () => {
    const { auth } = await makeToken(t.db, 'admin', { expiresAt: new Date(Date.now() + 3_600_000) });
    const saved = clock;
    clock = new Date(Date.now() + 3_600_000 - 1000);
    expect((await list(auth)).statusCode).toBe(200);
    clock = new Date(Date.now() + 3_600_000 + 1000);
    const res = await list(auth);
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/expired/);
    clock = saved;
  });

  it('record when they were last used, at most once a minute', async () => {
    const { id, auth } = await makeToken(t.db, 'admin');
    const lastUsed = async () => (await t.db.select().from(apiTokens).where(eq(apiTokens.id, id)))[0]!.lastUsedAt;
    expect(await lastUsed()).toBeNull();
    clock = new Date('2026-02-01T10:00:00Z');
    await list(auth);
    expect(await lastUsed()).toEqual(clock);
    const first = clock;
    clock = new Date('2026-02-01T10:00:30Z');
    await list(auth);
    expect(await lastUsed()).toEqual(first);
    clock = new Date('2026-02-01T10:02:00Z');
    await list(auth);
    expect(await lastUsed()).toEqual(clock);
  });

  it('bind sales to an existing sales owner and managers to a department', async () => {
    const actor = { name: 'test' };
    await expect(createToken(t.db, { name: 's', role: 'sales' }, actor)).rejects.toMatchObject({
      statusCode: 400,
      extra: { errors: [{ path: 'salesOwnerId' }] },
    });
    await expect(createToken(t.db, { name: 'm', role: 'manager' }, actor)).rejects.toMatchObject({
      extra: { errors: [{ path: 'department' }] },
    });
    await expect(createToken(t.db, { name: 'a', role: 'admin', department: 'x' }, actor)).rejects.toMatchObject({
      extra: { errors: [{ path: 'department' }] },
    });
    await expect(createToken(t.db, { name: 's', role: 'sales', salesOwnerId: '6f1c1b2e-0000-4000-8000-000000000000' }, actor)).rejects.toMatchObject({
      statusCode: 404,
      code: 'APP_SALES_OWNER_NOT_FOUND',
    });
    const owner = await makeSalesOwner(t.db);
    const ok = await createToken(t.db, { name: 's', role: 'sales', salesOwnerId: owner.id }, actor);
    expect(ok.row.salesOwnerId).toBe(owner.id);
  });

  it('bind a manager, optionally, to their own sales-owner record in the token\u2019s department; never an admin', async () => {
    const actor = { name: 'test' };
    const boss = await makeSalesOwner(t.db, { department: 'Sales 1' });
    const elsewhere = await makeSalesOwner(t.db, { department: 'Sales 2' });
    const { row } = await createToken(t.db, { name: 'm', role: 'manager', department: 'Sales 1', salesOwnerId: boss.id }, actor);
    expect(row).toMatchObject({ role: 'manager', department: 'Sales 1', salesOwnerId: boss.id });
    await expect(createToken(t.db, { name: 'm', role: 'manager', department: 'Sales 1', salesOwnerId: elsewhere.id }, actor)).rejects.toMatchObject({
      statusCode: 400,
      extra: { errors: [{ path: 'salesOwnerId', message: expect.stringMatching(/of Sales 2; a manager token of Sales 1/) }] },
    });
    await expect(createToken(t.db, { name: 'a', role: 'admin', salesOwnerId: boss.id }, actor)).rejects.toMatchObject({
      extra: { errors: [{ path: 'salesOwnerId' }] },
    });
    // Its principal: the department is the scope, the record is "me".
    const auth = { authorization: `Bearer ${(await makeToken(t.db, 'manager', { department: 'Sales 1', salesOwnerId: boss.id })).token}` };
    const owners = await t.app.inject({ method: 'GET', url: '/v1/sales-owners?limit=200', headers: auth });
    expect(owners.json().items.map((o: { id: string }) => o.id)).toContain(boss.id);
    expect(owners.json().items.map((o: { department: string }) => o.department)).not.toContain('Sales 2');
    expect((await t.app.inject({ method: 'GET', url: '/v1/tasks?assignee=me', headers: auth })).statusCode).toBe(200);
  });

  it('are refused by the database when the role binding is inconsistent', async () => {
    await expect(
      t.db.insert(apiTokens).values({ name: 'x', role: 'sales', tokenHash: 'a'.repeat(64), tokenPrefix: 'mdt_', createdBy: 'test' }),
    ).rejects.toThrow();
    const owner = await makeSalesOwner(t.db);
    await expect(
      t.db.insert(apiTokens).values({ name: 'x', role: 'admin', salesOwnerId: owner.id, tokenHash: 'b'.repeat(64), tokenPrefix: 'mdt_', createdBy: 'test' }),
    ).rejects.toThrow();
  });
});

describe('the token API (admins onboard a rep without stopping the server)', () => {
  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, auth: Record<string, string>, payload?: object) =>
    t.app.inject({ method, url, headers: auth, ...(payload ? { payload } : {}) });

  it('creates a token shown once, lists tokens without their secrets, and revokes one at once', async () => {
    const admin = await makeToken(t.db, 'admin');
    const owner = await makeSalesOwner(t.db);
    const created = await call('POST', '/v1/tokens', admin.auth, { name: '鈴木', role: 'sales', salesOwnerId: owner.id, expiresInDays: 30 });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(created.headers).toMatchObject({ location: `/v1/tokens/${body.id}`, 'cache-control': 'no-store' });
    expect(body).toMatchObject({
      name: '鈴木',
      role: 'sales',
      salesOwnerId: owner.id,
      revokedAt: null,
      expiresAt: new Date(clock.getTime() + 30 * 86_400_000).toISOString(),
    });
    expect(body.token).toMatch(/^mdt_[A-Za-z0-9_-]{43}$/);
    const rep = { authorization: `Bearer ${body.token}` };
    expect((await call('GET', '/v1/customers', rep)).statusCode).toBe(200);

    const listed = await call('GET', '/v1/tokens', admin.auth);
    expect(listed.statusCode).toBe(200);
    expect(listed.body).not.toContain(body.token);
    expect(listed.json().items.find((i: { id: string }) => i.id === body.id)).toMatchObject({ tokenPrefix: body.token.slice(0, 10) });
    expect((await call('GET', '/v1/tokens', rep)).statusCode).toBe(403);

    const revoked = await call('DELETE', `/v1/tokens/${body.id}`, admin.auth);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revokedAt).toBe(clock.toISOString());
    expect((await call('GET', '/v1/customers', rep)).statusCode).toBe(401);
    const audit = await t.db.select().from(auditLog).where(eq(auditLog.entityId, body.id));
    expect(audit.map((a) => [a.action, a.actor])).toEqual([
      ['token.create', expect.stringMatching(/^token:/)],
      ['token.revoke', expect.stringMatching(/^token:/)],
    ]);
  });

  it('names the field a role needs, refuses an unknown or deactivated owner, and is for admins only', async () => {
    const admin = await makeToken(t.db, 'admin');
    const manager = await makeToken(t.db, 'manager', { department: 'Sales 1' });
    const gone = await makeSalesOwner(t.db, { active: false });
    const noOwner = await call('POST', '/v1/tokens', admin.auth, { name: 'x', role: 'sales' });
    expect(noOwner.statusCode).toBe(400);
    expect(noOwner.json().errors).toEqual([{ path: 'body.salesOwnerId', message: 'a sales token must be bound to a sales owner' }]);
    const inactive = await call('POST', '/v1/tokens', admin.auth, { name: 'x', role: 'sales', salesOwnerId: gone.id });
    expect(inactive.json().errors[0]).toMatchObject({ path: 'body.salesOwnerId', message: expect.stringMatching(/deactivated/) });
    expect((await call('POST', '/v1/tokens', admin.auth, { name: 'x', role: 'sales', salesOwnerId: '00000000-0000-4000-8000-000000000000' })).statusCode).toBe(
      404,
    );
    expect((await call('POST', '/v1/tokens', manager.auth, { name: 'x', role: 'admin' })).statusCode).toBe(403);
    expect((await call('DELETE', '/v1/tokens/00000000-0000-4000-8000-000000000000', admin.auth)).statusCode).toBe(404);
  });
});
