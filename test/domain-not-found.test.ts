import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, domains } from '../db/schema/index.ts';
import { nextCheckAt } from '../src/probes/check-cadence.ts';
import { probeDomain, type ProbeDeps } from '../src/probes/probe-service.ts';
import { createResolver, type DnsLookup } from '../src/dns/resolver.ts';
import { apiClient } from './helpers/api.ts';
import { buildTestApp, testLogger, type TestApp } from './helpers/build-test-app.ts';
import { TestDnsServer } from './helpers/dns-server.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

// 2022-09-01 12:00 in Tokyo, 29 days before the shutdown.
const now = new Date('2022-09-01T03:00:00Z');
let server: TestDnsServer;
let dns: DnsLookup;
let t: TestApp;
let call: ReturnType<typeof apiClient>;
let owner: { id: string };
const token = {} as Record<'admin' | 'manager' | 'otherManager' | 'sales', string>;
const log = testLogger();
const deps = (): ProbeDeps => ({ db: t.db, dns, now: () => now, log });

beforeAll(async () => {
  server = await TestDnsServer.start();
  server.set('spf.po.2iij.net', { records: [{ type: 'TXT', data: 'v=spf1 ip4:210.130.0.0/16 -all' }] });
  server.set('spf.gateway.example', { records: [{ type: 'TXT', data: 'v=spf1 ip4:203.0.113.0/24 ~all' }] });
  dns = createResolver({ servers: [server.address], timeoutMs: 200, tries: 1 });
  t = await buildTestApp({ now: () => now, dns });
  call = apiClient(t.app);
  owner = await makeSalesOwner(t.db, { department: 'D1' });
  token.admin = (await makeToken(t.db, 'admin')).token;
  token.manager = (await makeToken(t.db, 'manager', { department: 'D1' })).token;
  token.otherManager = (await makeToken(t.db, 'manager', { department: 'D2' })).token;
  token.sales = (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).token;
});
afterAll(async () => {
  await t.close();
  await server.close();
});

const program = () =>
  makeProgram(t.db, {
    legacySpfIncludes: ['spf.po.2iij.net'],
    legacyMxHostSuffixes: ['po.2iij.net'],
    successorSpfIncludes: ['spf.gateway.example'],
    successorMxHostSuffixes: ['mx.gateway.example'],
    shutdownAt: '2022-09-30',
    createdAt: new Date('2022-08-01T00:00:00Z'),
  });
const checkedAt = new Date('2022-09-01T00:00:00Z');
const created = new Date('2022-08-01T00:00:00Z');
/** A domain whose last check found it clean and on the successor. */
const cleanDomain = (customer: { id: string; programId: string }) =>
  makeDomain(t.db, customer, {
    latestVerdict: 'clean',
    latestMxState: 'successor',
    breaksAtDeletion: false,
    lastDeterminedAt: checkedAt,
    lastCheckedAt: checkedAt,
    createdAt: created,
  });
/** A domain whose last check found it missing from DNS. */
const missingDomain = (customer: { id: string; programId: string }, overrides: Partial<typeof domains.$inferInsert> = {}) =>
  makeDomain(t.db, customer, {
    latestVerdict: 'domain_not_found',
    latestMxState: 'nxdomain',
    breaksAtDeletion: false,
    lastDeterminedAt: checkedAt,
    lastCheckedAt: checkedAt,
    createdAt: created,
    ...overrides,
  });
/** A program whose only obstacle is one domain missing from DNS. */
async function programWithMissingDomain() {
  const p = await program();
  const customer = await makeCustomer(t.db, p.id, owner.id, { status: 'migrated', createdAt: created });
  await cleanDomain(customer);
  const missing = await missingDomain(customer);
  return { programId: p.id, customer, missing };
}
const readiness = async (programId: string) => (await call('GET', `/v1/programs/${programId}/readiness`, token.admin)).json();
const dismiss = (domainId: string, body: unknown, as = token.manager) => call('POST', `/v1/domains/${domainId}/not-found-dismissal`, as, body);
const domainRow = async (id: string) => (await t.db.select().from(domains).where(eq(domains.id, id)))[0]!;

describe('a domain missing from DNS (domain_not_found)', () => {
  it('keeps both readiness gates shut while it is not dismissed, and is counted apart', async () => {
    const { programId } = await programWithMissingDomain();
    const r = await readiness(programId);
    expect(r.domains).toMatchObject({
      total: 2,
      byVerdict: { clean: 1, domain_not_found: 1 },
      notFound: 1,
      notFoundDismissed: 0,
      blastRadius: 0,
      mxOnLegacy: 0,
      unverified: 0,
    });
    expect(r.gates.mxCutoverReady).toEqual({ ready: false, mxOnLegacy: 0, unverified: 0, domainsNotFound: 1 });
    expect(r.gates.spfRecordDeletionSafe).toMatchObject({ safe: false, blastRadius: 0, unverified: 0, domainsNotFound: 1 });
  });

  it('opens both gates once a manager dismisses it with a reason', async () => {
    const { programId, missing } = await programWithMissingDomain();
    expect((await dismiss(missing.id, { reason: 'Domain retired by the customer in June' })).statusCode).toBe(200);
    const r = await readiness(programId);
    expect(r.domains).toMatchObject({ notFound: 0, notFoundDismissed: 1, byVerdict: { clean: 1, domain_not_found: 1 } });
    expect(r.gates.mxCutoverReady).toEqual({ ready: true, mxOnLegacy: 0, unverified: 0, domainsNotFound: 0 });
    expect(r.gates.spfRecordDeletionSafe).toMatchObject({ safe: true, domainsNotFound: 0 });
  });

  it('opens both gates once the domain is removed', async () => {
    const { programId, missing } = await programWithMissingDomain();
    expect((await call('DELETE', `/v1/domains/${missing.id}`, token.manager)).statusCode).toBe(204);
    const r = await readiness(programId);
    expect(r.domains).toMatchObject({ total: 1, notFound: 0, notFoundDismissed: 0 });
    expect(r.gates.mxCutoverReady.ready).toBe(true);
    expect(r.gates.spfRecordDeletionSafe.safe).toBe(true);
  });

  it('leaves the burndown of domains not clean at its dismissal', async () => {
    const { programId, missing } = await programWithMissingDomain();
    // The clean domain never had a clean check in history here, so both count until something removes them.
    expect((await readiness(programId)).burndown.at(-1)).toMatchObject({ day: '2022-09-01', domainsNotClean: 2 });
    await dismiss(missing.id, { reason: 'retired' });
    expect((await readiness(programId)).burndown.at(-1)).toMatchObject({ day: '2022-09-01', domainsNotClean: 1 });
  });

  it('is a verdict the customer list filters by', async () => {
    const { programId, customer } = await programWithMissingDomain();
    const res = await call('GET', `/v1/customers?programId=${programId}&verdict=domain_not_found`, token.admin);
    expect(res.statusCode).toBe(200);
    expect(res.json().items.map((c: { id: string }) => c.id)).toEqual([customer.id]);
  });

  it('is checked at the cadence of a domain needing action, hourly before a deadline', () => {
    const cadence = {
      shutdownAt: '2022-09-30',
      spfRecordDeletionAt: null,
      timezone: 'Asia/Tokyo',
      checkIntervalActionHours: 6,
      checkIntervalCleanHours: 24,
      checkIntervalCompletedHours: 168,
      urgentWindowDays: 14,
      urgentIntervalHours: 1,
    };
    const state = { verdict: 'domain_not_found', failed: false, consecutiveFailures: 0, customerStatus: 'completed' as const };
    expect(nextCheckAt(now, state, cadence).getTime() - now.getTime()).toBe(6 * 3_600_000);
    const urgent = new Date('2022-09-25T00:00:00Z');
    expect(nextCheckAt(urgent, state, cadence).getTime() - urgent.getTime()).toBe(3_600_000);
  });
});

describe('POST /v1/domains/{id}/not-found-dismissal', () => {
  it('records when, by whom and why, with an audit entry in the customer history', async () => {
    const { customer, missing } = await programWithMissingDomain();
    const res = await dismiss(missing.id, { reason: '  顧客がドメインを廃止済み  ' });
    expect(res.statusCode).toBe(200);
    const dismissal = res.json().notFoundDismissal;
    expect(dismissal).toEqual({ at: now.toISOString(), by: expect.stringMatching(/^token:manager-/), reason: '顧客がドメインを廃止済み' });
    expect((await call('GET', `/v1/domains/${missing.id}`, token.sales)).json()).toMatchObject({
      latestVerdict: 'domain_not_found',
      notFoundDismissal: dismissal,
    });
    const [audit] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityId, missing.id), eq(auditLog.action, 'domain.not_found_dismissed')));
    expect(audit).toMatchObject({
      before: { notFoundDismissal: null },
      after: { notFoundDismissal: dismissal, customerId: customer.id },
      requestId: res.headers['x-request-id'],
    });
    const history = (await call('GET', `/v1/customers/${customer.id}/history`, token.manager)).json();
    expect(history.items.map((e: { action?: string }) => e.action)).toContain('domain.not_found_dismissed');
  });

  it('lets an admin dismiss too, and a second dismissal replace the reason', async () => {
    const { missing } = await programWithMissingDomain();
    await dismiss(missing.id, { reason: 'first' });
    const res = await dismiss(missing.id, { reason: 'second' }, token.admin);
    expect(res.statusCode).toBe(200);
    expect(res.json().notFoundDismissal).toMatchObject({ by: expect.stringMatching(/^token:admin-/), reason: 'second' });
  });

  it.each([
    ['a blank reason', 'body.reason', { reason: '   ' }],
    ['no reason', 'body.reason', {}],
    ['an unknown field', 'body.until', { reason: 'x', until: '2023-01-01' }],
  ])('refuses %s with 400 naming %s and writes nothing', async (_what, path, body) => {
    const { missing } = await programWithMissingDomain();
    const res = await dismiss(missing.id, body);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json().errors.map((e: { path: string }) => e.path)).toContain(path);
    expect((await domainRow(missing.id)).notFoundDismissedAt).toBeNull();
  });

  it('refuses a sales token with 403, even on its own domain', async () => {
    const { missing } = await programWithMissingDomain();
    const res = await dismiss(missing.id, { reason: 'retired' }, token.sales);
    expect(res.statusCode).toBe(403);
    expect((await domainRow(missing.id)).notFoundDismissedAt).toBeNull();
  });

  it('answers 404 to a manager of another department', async () => {
    const { missing } = await programWithMissingDomain();
    expect((await dismiss(missing.id, { reason: 'retired' }, token.otherManager)).statusCode).toBe(404);
  });

  it.each([
    ['clean', { latestVerdict: 'clean' as const }, 'clean'],
    ['never checked', { latestVerdict: null }, 'not checked yet'],
    ['unknown', { latestVerdict: 'unknown' as const }, 'unknown'],
  ])('refuses a domain whose latest verdict is %s with 409 and writes nothing', async (_what, overrides, shown) => {
    const p = await program();
    const customer = await makeCustomer(t.db, p.id, owner.id);
    const d = await makeDomain(t.db, customer, overrides);
    const res = await dismiss(d.id, { reason: 'retired' });
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      code: 'APP_VERDICT_NOT_DOMAIN_NOT_FOUND',
      status: 409,
      detail: expect.stringContaining(`is ${shown}, not domain_not_found`),
    });
    expect(await t.db.$count(auditLog, and(eq(auditLog.entityId, d.id), eq(auditLog.action, 'domain.not_found_dismissed')))).toBe(0);
  });

  it('cannot be stored on a domain whose verdict is not domain_not_found (database constraint)', async () => {
    const p = await program();
    const customer = await makeCustomer(t.db, p.id, owner.id);
    await expect(
      makeDomain(t.db, customer, { latestVerdict: 'clean', notFoundDismissedAt: now, notFoundDismissedBy: 'test', notFoundDismissalReason: 'x' }),
    ).rejects.toThrow();
    await expect(
      makeDomain(t.db, customer, { latestVerdict: 'domain_not_found', notFoundDismissedAt: now, notFoundDismissedBy: 'test', notFoundDismissalReason: ' ' }),
    ).rejects.toThrow();
  });
});

describe('a check of a domain absent from DNS', () => {
  const absent = async (status: 'contacted' | 'migrated' = 'contacted') => {
    const p = await program();
    const customer = await makeCustomer(t.db, p.id, owner.id, { status });
    const name = `absent-${randomBytes(3).toString('hex')}.example.jp`; // not in the zone: NXDOMAIN
    const domain = await makeDomain(t.db, customer, { name, displayName: name });
    return { customer, domain };
  };

  it('records the determined verdict domain_not_found, checked again at the action cadence', async () => {
    const { domain } = await absent();
    expect(await probeDomain(deps(), domain.id, 'sweep')).toMatchObject({ outcome: 'determined', verdict: 'domain_not_found', verdictChanged: true });
    const row = await domainRow(domain.id);
    expect(row).toMatchObject({
      latestVerdict: 'domain_not_found',
      latestMxState: 'nxdomain',
      lastDeterminedAt: now,
      consecutiveFailures: 0,
      breaksAtDeletion: false,
    });
    expect(row.nextCheckAt.getTime() - now.getTime()).toBe(6 * 3_600_000);
  });

  it('never counts as clean for auto-progress: a migrated customer with such a domain stays migrated', async () => {
    const { customer, domain } = await absent('migrated');
    const clean = `clean-${randomBytes(3).toString('hex')}.example.jp`;
    server.set(clean, {
      records: [
        { type: 'TXT', data: 'v=spf1 include:spf.gateway.example -all' },
        { type: 'MX', data: [10, 'in.mx.gateway.example'] },
      ],
    });
    const other = await makeDomain(t.db, customer, { name: clean, displayName: clean });
    await probeDomain(deps(), other.id, 'sweep');
    const summary = await probeDomain(deps(), domain.id, 'sweep');
    expect(summary).toMatchObject({ verdict: 'domain_not_found', customerMovedTo: null });
    const res = await call('GET', `/v1/customers/${customer.id}`, token.admin);
    expect(res.json().status).toBe('migrated');
  });

  it('keeps a dismissal while later checks still find the domain missing', async () => {
    const { domain } = await absent();
    await probeDomain(deps(), domain.id, 'sweep');
    expect((await dismiss(domain.id, { reason: 'retired' })).statusCode).toBe(200);
    expect(await probeDomain(deps(), domain.id, 'sweep')).toMatchObject({ verdict: 'domain_not_found', verdictChanged: false });
    expect(await domainRow(domain.id)).toMatchObject({ notFoundDismissalReason: 'retired' });
  });
});

describe('a dismissal and later checks', () => {
  const dismissedDomain = async () => {
    const { programId, customer, missing } = await programWithMissingDomain();
    const name = `gone-${randomBytes(3).toString('hex')}.example.jp`;
    await t.db.update(domains).set({ name, displayName: name }).where(eq(domains.id, missing.id));
    expect((await dismiss(missing.id, { reason: 'retired' })).statusCode).toBe(200);
    return { programId, customer, domainId: missing.id, name };
  };

  it('is cleared when a later check finds the domain again, and the verdict change says so', async () => {
    const { programId, domainId, name } = await dismissedDomain();
    server.set(name, {
      records: [
        { type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net -all' },
        { type: 'MX', data: [10, 'in.mx.gateway.example'] },
      ],
    });
    const summary = await probeDomain(deps(), domainId, 'sweep');
    expect(summary).toMatchObject({ outcome: 'determined', verdict: 'needs_spf_cleanup', verdictChanged: true });
    expect(await domainRow(domainId)).toMatchObject({
      latestVerdict: 'needs_spf_cleanup',
      notFoundDismissedAt: null,
      notFoundDismissedBy: null,
      notFoundDismissalReason: null,
    });
    const [change] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityId, domainId), eq(auditLog.action, 'domain.verdict_changed')));
    expect(change!.before).toMatchObject({
      verdict: 'domain_not_found',
      notFoundDismissal: { reason: 'retired', by: expect.stringMatching(/^token:manager-/) },
    });
    const r = await readiness(programId);
    expect(r.domains).toMatchObject({ notFound: 0, notFoundDismissed: 0 });
  });

  it('survives a check DNS did not answer', async () => {
    const { domainId, name } = await dismissedDomain();
    server.set(name, { fault: 'timeout' });
    expect(await probeDomain(deps(), domainId, 'sweep')).toMatchObject({ outcome: 'error' });
    expect(await domainRow(domainId)).toMatchObject({ latestVerdict: 'domain_not_found', notFoundDismissalReason: 'retired', consecutiveFailures: 1 });
  });
});
