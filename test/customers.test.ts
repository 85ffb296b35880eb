import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, customers, salesOwners, statusEvents, tasks } from '../db/schema/index.ts';
import { customerStatuses, type CustomerStatus } from '../db/schema/enums.ts';
import { nextStatuses } from '../src/customer-status/customer-workflow.ts';
import { apiClient } from './helpers/api.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

let t: TestApp;
let call: ReturnType<typeof apiClient>;
let admin: string;
let manager: string;
let salesA: string;
let program: { id: string };
let ownerA: { id: string };
let ownerB: { id: string };
let ownerC: { id: string };

beforeAll(async () => {
  t = await buildTestApp();
  call = apiClient(t.app);
  program = await makeProgram(t.db);
  ownerA = await makeSalesOwner(t.db, { department: 'Sales 1' });
  ownerB = await makeSalesOwner(t.db, { department: 'Sales 1' });
  ownerC = await makeSalesOwner(t.db, { department: 'Sales 2' });
  admin = (await makeToken(t.db, 'admin')).token;
  manager = (await makeToken(t.db, 'manager', { department: 'Sales 1' })).token;
  salesA = (await makeToken(t.db, 'sales', { salesOwnerId: ownerA.id })).token;
});
afterAll(() => t.close());

let seq = 0;
const newCustomer = (overrides: Record<string, unknown> = {}) => ({
  programId: program.id,
  externalRef: `EXT-${++seq}`,
  name: `顧客 ${seq}`,
  salesOwnerId: ownerA.id,
  ...overrides,
});
const ifMatch = (v: number) => ({ 'if-match': `"${v}"` });

describe('customers', () => {
  it('are created with normalized domains, an initial status event and an audit row', async () => {
    const res = await call('POST', '/v1/customers', admin, newCustomer({ domains: ['Example-A.CO.JP.', 'メール.jp'], status: 'contacted' }));
    expect(res.statusCode).toBe(201);
    const c = res.json();
    expect(c).toMatchObject({ status: 'contacted', version: 1, salesOwnerId: ownerA.id });
    expect(c.domains.map((d: { name: string; displayName: string }) => [d.name, d.displayName]).sort()).toEqual([
      ['example-a.co.jp', 'example-a.co.jp'],
      ['xn--4dkua4c.jp', 'メール.jp'],
    ]);
    expect(c.domains[0].latestVerdict).toBeNull();
    expect(res.headers.etag).toBe('"1"');
    const events = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, c.id));
    expect(events).toMatchObject([{ fromStatus: null, toStatus: 'contacted' }]);
    expect((await t.db.select().from(auditLog).where(eq(auditLog.entityId, c.id))).map((a) => a.action)).toEqual(['customer.create']);
  });

  it('refuse a duplicate external ref (409), an unknown program and an inactive owner (400), writing nothing', async () => {
    const first = (await call('POST', '/v1/customers', admin, newCustomer())).json();
    const before = await t.db.$count(customers);
    const dup = await call('POST', '/v1/customers', admin, newCustomer({ externalRef: first.externalRef }));
    expect(dup.statusCode).toBe(409);
    expect(dup.json().errors[0].path).toBe('body.externalRef');
    const noProgram = await call('POST', '/v1/customers', admin, newCustomer({ programId: '6f1c1b2e-0000-4000-8000-000000000000' }));
    expect(noProgram.statusCode).toBe(400);
    expect(noProgram.json().errors[0].path).toBe('body.programId');
    const retired = await makeSalesOwner(t.db, { active: false });
    const inactive = await call('POST', '/v1/customers', admin, newCustomer({ salesOwnerId: retired.id }));
    expect(inactive.statusCode).toBe(400);
    expect(inactive.json().errors[0]).toMatchObject({ path: 'body.salesOwnerId', message: expect.stringMatching(/inactive/) });
    const onHold = await call('POST', '/v1/customers', admin, newCustomer({ status: 'on_hold' }));
    expect(onHold.statusCode).toBe(400);
    expect(await t.db.$count(customers)).toBe(before);
  });

  it('change through PATCH only with If-Match, and point status and owner changes elsewhere', async () => {
    const c = (await call('POST', '/v1/customers', admin, newCustomer())).json();
    expect((await call('PATCH', `/v1/customers/${c.id}`, salesA, { notes: 'x' })).statusCode).toBe(428);
    const ok = await call('PATCH', `/v1/customers/${c.id}`, salesA, { notes: '連絡済み', plannedMigrationAt: '2022-07-15' }, ifMatch(1));
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ notes: '連絡済み', plannedMigrationAt: '2022-07-15', version: 2 });
    const [audit] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityId, c.id), eq(auditLog.action, 'customer.update')));
    expect(audit).toMatchObject({ before: { notes: null, version: 1 }, after: ok.json() });
    const status = await call('PATCH', `/v1/customers/${c.id}`, salesA, { status: 'migrated' }, ifMatch(2));
    expect(status.statusCode).toBe(400);
    expect(status.json().errors[0].path).toBe('body.status');
    const stale = await call('PATCH', `/v1/customers/${c.id}`, salesA, { notes: 'y' }, ifMatch(1));
    expect(stale.statusCode).toBe(412);
  });
});

describe('transitions over the API', () => {
  /** A customer in `status` with one clean domain (so completed is allowed), owned by sales A. */
  async function customerIn(status: CustomerStatus) {
    const c = await makeCustomer(t.db, program.id, ownerA.id, {
      status,
      statusBeforeHold: status === 'on_hold' ? 'planned' : null,
    });
    await makeDomain(t.db, c, { latestVerdict: 'clean' });
    return c;
  }

  const reopenable: CustomerStatus[] = ['not_contacted', 'contacted', 'planned', 'migrating', 'migrated'];
  const pairs = customerStatuses.flatMap((from) => customerStatuses.map((to) => [from, to] as const));
  it('follow the workflow for every pair of states (200 or 409 with the allowed ones)', async () => {
    for (const [from, to] of pairs) {
      const c = await customerIn(from);
      const res = await call('POST', `/v1/customers/${c.id}/transitions`, salesA, { to }, ifMatch(1));
      const allowed = nextStatuses(from, from === 'on_hold' ? 'planned' : null);
      if (allowed.includes(to)) {
        expect(res.statusCode, `${from} → ${to}`).toBe(200);
        expect(res.json()).toMatchObject({ status: to, version: 2 });
      } else if (['completed', 'declined', 'cancelled'].includes(from) && reopenable.includes(to)) {
        // A reopening target: legal for an admin with a reason, forbidden to a sales token.
        expect(res.statusCode, `${from} → ${to}`).toBe(403);
        expect(res.json().code).toBe('APP_REOPEN_FORBIDDEN');
      } else {
        expect(res.statusCode, `${from} → ${to}`).toBe(409);
        expect(res.json()).toMatchObject({ from, allowed });
      }
    }
  });

  it('record a status event and return on_hold customers to where they were', async () => {
    const c = await customerIn('migrating');
    await call('POST', `/v1/customers/${c.id}/transitions`, salesA, { to: 'on_hold', note: '決算期のため保留' }, ifMatch(1));
    const back = await call('POST', `/v1/customers/${c.id}/transitions`, salesA, { to: 'migrating' }, ifMatch(2));
    expect(back.json()).toMatchObject({ status: 'migrating', statusBeforeHold: null });
    const events = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, c.id)).orderBy(statusEvents.id);
    expect(events.map((e) => [e.fromStatus, e.toStatus, e.note])).toEqual([
      ['migrating', 'on_hold', '決算期のため保留'],
      ['on_hold', 'migrating', null],
    ]);
    expect(events[0]!.actor).toMatch(/^token:sales-/);
  });

  it('write the event, the audit entry (after = the answer) and the new row together; the resolution time follows', async () => {
    const c = await customerIn('migrating');
    const res = await call('POST', `/v1/customers/${c.id}/transitions`, salesA, { to: 'migrated' }, ifMatch(1));
    expect(res.statusCode).toBe(200);
    const [audit, ...more] = await t.db.select().from(auditLog).where(eq(auditLog.entityId, c.id));
    expect(more).toEqual([]);
    expect(audit).toMatchObject({ action: 'customer.transition', before: { status: 'migrating', version: 1 }, after: res.json() });
    const [event] = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, c.id));
    expect(event).toMatchObject({ fromStatus: 'migrating', toStatus: 'migrated', at: audit!.at });
    // The statement-level trigger on status_events still sees the event written inside the update.
    const [row] = await t.db.select().from(customers).where(eq(customers.id, c.id));
    expect(row!.resolvedAt).toEqual(event!.at);
    expect(row!.updatedAt.toISOString()).toBe(res.json().updatedAt);
  });

  it('let exactly one of two concurrent transitions win; the other gets 412', async () => {
    const c = await customerIn('contacted');
    const results = await Promise.all([
      call('POST', `/v1/customers/${c.id}/transitions`, salesA, { to: 'planned' }, ifMatch(1)),
      call('POST', `/v1/customers/${c.id}/transitions`, salesA, { to: 'migrating' }, ifMatch(1)),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 412]);
    expect(await t.db.$count(statusEvents, eq(statusEvents.customerId, c.id))).toBe(1);
  });

  it('refuse completed while a domain is not clean; allow it with a manager override, recorded', async () => {
    const c = await makeCustomer(t.db, program.id, ownerA.id, { status: 'migrated' });
    await makeDomain(t.db, c, { latestVerdict: 'clean' });
    await makeDomain(t.db, c, { latestVerdict: 'needs_spf_cleanup' });
    const refused = await call('POST', `/v1/customers/${c.id}/transitions`, salesA, { to: 'completed' }, ifMatch(1));
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'APP_NOT_CLEAN', detail: expect.stringMatching(/1 of 2 domain/) });
    const salesOverride = await call('POST', `/v1/customers/${c.id}/transitions`, salesA, { to: 'completed', overrideReason: 'ok' }, ifMatch(1));
    expect(salesOverride.statusCode).toBe(403);
    const done = await call('POST', `/v1/customers/${c.id}/transitions`, manager, { to: 'completed', overrideReason: '顧客がドメインを廃止予定' }, ifMatch(1));
    expect(done.statusCode).toBe(200);
    const [event] = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, c.id));
    expect(event).toMatchObject({ toStatus: 'completed', overrideReason: '顧客がドメインを廃止予定' });
  });

  it('let only an admin reopen a final customer, with a reason', async () => {
    const c = await customerIn('declined');
    expect((await call('POST', `/v1/customers/${c.id}/transitions`, manager, { to: 'contacted', overrideReason: 'x' }, ifMatch(1))).statusCode).toBe(403);
    expect((await call('POST', `/v1/customers/${c.id}/transitions`, admin, { to: 'contacted' }, ifMatch(1))).statusCode).toBe(409);
    const reopened = await call('POST', `/v1/customers/${c.id}/transitions`, admin, { to: 'contacted', overrideReason: '再検討の連絡あり' }, ifMatch(1));
    expect(reopened.statusCode).toBe(200);
    expect(reopened.json().status).toBe('contacted');
  });
});

describe('customer lists', () => {
  it('filter by status, owner, department, verdict and prefix, and page through every sort in order', async () => {
    const p = await makeProgram(t.db);
    const rows = [];
    const statuses: CustomerStatus[] = ['contacted', 'planned', 'migrated', 'contacted', 'not_contacted', 'migrating'];
    for (let i = 0; i < statuses.length; i++) {
      const c = await makeCustomer(t.db, p.id, i % 2 === 0 ? ownerA.id : ownerC.id, {
        name: `Acme ${String.fromCharCode(70 - i)}`,
        externalRef: `R-${i}`,
        status: statuses[i]!,
        plannedMigrationAt: i % 3 === 0 ? null : `2022-0${(i % 9) + 1}-15`,
      });
      await makeDomain(t.db, c, {
        name: `mail${i}.acme.example.jp`,
        displayName: `mail${i}.acme.example.jp`,
        latestVerdict: i < 2 ? 'needs_spf_cleanup' : 'clean',
      });
      rows.push(c);
    }
    const ids = async (query: string, token = admin) => {
      const res = await call('GET', `/v1/customers?programId=${p.id}&${query}`, token);
      expect(res.statusCode, query).toBe(200);
      return res.json().items.map((c: { externalRef: string }) => c.externalRef);
    };
    expect((await ids('status=contacted,planned')).sort()).toEqual(['R-0', 'R-1', 'R-3']);
    expect((await ids('status=contacted&status=migrated')).sort()).toEqual(['R-0', 'R-2', 'R-3']);
    expect((await ids(`salesOwnerId=${ownerC.id}`)).sort()).toEqual(['R-1', 'R-3', 'R-5']);
    expect((await ids('department=Sales%202')).sort()).toEqual(['R-1', 'R-3', 'R-5']);
    expect((await ids('verdict=needs_spf_cleanup')).sort()).toEqual(['R-0', 'R-1']);
    expect(await ids('q=r-4')).toEqual(['R-4']);
    expect(await ids('q=acme%20f')).toEqual(['R-0']);
    expect(await ids('q=MAIL5.acme')).toEqual(['R-5']);
    expect((await ids('', salesA)).sort()).toEqual(['R-0', 'R-2', 'R-4']);
    const bad = await call('GET', `/v1/customers?status=shipped`, admin);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toMatch(/^query\.status/);

    const order = (rows: { id: string }[], key: (r: (typeof all)[number]) => string | number) =>
      [...all].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.id < b.id ? -1 : 1)).map((r) => r.externalRef);
    const all = await t.db.select().from(customers).where(eq(customers.programId, p.id));
    const rank = (s: string) => customerStatuses.indexOf(s as CustomerStatus);
    const expected: Record<string, string[]> = {
      name: order(all, (r) => r.name),
      status: order(all, (r) => rank(r.status)),
      plannedMigrationAt: order(all, (r) => r.plannedMigrationAt ?? '9999-12-31'),
      updatedAt: order(all, (r) => r.updatedAt.getTime()),
    };
    for (const [key, asc] of Object.entries(expected)) {
      for (const [sort, want] of [
        [key, asc],
        [`-${key}`, [...asc].reverse()],
      ] as const) {
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const res = await call('GET', `/v1/customers?programId=${p.id}&sort=${sort}&limit=4${cursor ? `&cursor=${cursor}` : ''}`, admin);
          seen.push(...res.json().items.map((c: { externalRef: string }) => c.externalRef));
          cursor = res.json().nextCursor;
        } while (cursor);
        expect(seen, sort).toEqual(want);
      }
    }
  });

  it('take several verdicts, comma-separated or repeated: customers with a domain of any of them, in the list and the CSV alike', async () => {
    const p = await makeProgram(t.db);
    const verdicts = ['needs_spf_cleanup', 'needs_mx_and_spf', 'needs_mx_change', 'clean', null] as const;
    for (const [i, verdict] of verdicts.entries()) {
      const c = await makeCustomer(t.db, p.id, ownerA.id, { externalRef: `V-${i}` });
      await makeDomain(t.db, c, { latestVerdict: verdict });
      // A second, clean domain does not hide the first.
      await makeDomain(t.db, c, { latestVerdict: 'clean' });
    }
    const refs = async (query: string) => {
      const res = await call('GET', `/v1/customers?programId=${p.id}&${query}`, salesA);
      expect(res.statusCode, query).toBe(200);
      return res
        .json()
        .items.map((c: { externalRef: string }) => c.externalRef)
        .sort();
    };
    // The README's "which of mine still reference the legacy include": both verdicts that do.
    expect(await refs('verdict=needs_spf_cleanup,needs_mx_and_spf')).toEqual(['V-0', 'V-1']);
    expect(await refs('verdict=needs_spf_cleanup&verdict=needs_mx_and_spf')).toEqual(['V-0', 'V-1']);
    expect(await refs('verdict=needs_mx_change,unchecked')).toEqual(['V-2', 'V-4']);
    expect(await refs('verdict=needs_spf_cleanup')).toEqual(['V-0']);
    const csv = await call('GET', `/v1/customers.csv?programId=${p.id}&verdict=needs_spf_cleanup,needs_mx_and_spf&bom=false`, salesA);
    expect(csv.statusCode).toBe(200);
    expect(
      csv.body
        .trim()
        .split('\r\n')
        .slice(1)
        .map((line) => line.split(',')[0])
        .sort(),
    ).toEqual(['V-0', 'V-1']);
    const bad = await call('GET', `/v1/customers?verdict=clean,dirty`, admin);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toMatch(/^query\.verdict/);
  });
});

describe('history', () => {
  it('lists status events and audit entries of the customer and its domains, newest first, in pages', async () => {
    const c = (await call('POST', '/v1/customers', admin, newCustomer({ domains: ['hist.example.jp'] }))).json();
    await call('POST', `/v1/customers/${c.id}/transitions`, salesA, { to: 'contacted' }, ifMatch(1));
    await call('POST', `/v1/customers/${c.id}/domains`, salesA, { name: 'hist2.example.jp' });
    const items: { kind: string; action?: string; to?: string }[] = [];
    let cursor: string | null = null;
    do {
      const res = await call('GET', `/v1/customers/${c.id}/history?limit=2${cursor ? `&cursor=${cursor}` : ''}`, salesA);
      expect(res.statusCode).toBe(200);
      items.push(...res.json().items);
      cursor = res.json().nextCursor;
    } while (cursor);
    expect(items.map((i) => i.action ?? `status:${i.to}`)).toEqual([
      'domain.create',
      'status:contacted',
      'customer.transition',
      'status:not_contacted',
      'customer.create',
    ]);
  });
});

describe('domains', () => {
  it('belong to one customer per program: a second claim gets 409 naming the customer when visible', async () => {
    const a = (await call('POST', '/v1/customers', admin, newCustomer({ domains: ['claimed.example.jp'] }))).json();
    const b = (await call('POST', '/v1/customers', admin, newCustomer())).json();
    const again = await call('POST', `/v1/customers/${b.id}/domains`, admin, { name: 'CLAIMED.example.jp.' });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'APP_DOMAIN_TAKEN', customerId: a.id, detail: expect.stringContaining(a.externalRef) });

    const other = (await call('POST', '/v1/customers', admin, newCustomer({ salesOwnerId: ownerC.id, domains: ['hidden.example.jp'] }))).json();
    const hidden = await call('POST', `/v1/customers/${b.id}/domains`, salesA, { name: 'hidden.example.jp' });
    expect(hidden.statusCode).toBe(409);
    expect(hidden.json().detail).not.toContain(other.externalRef);
    expect(hidden.json().customerId).toBeUndefined();

    const otherProgram = await makeProgram(t.db);
    const elsewhere = await call('POST', '/v1/customers', admin, newCustomer({ programId: otherProgram.id, domains: ['claimed.example.jp'] }));
    expect(elsewhere.statusCode).toBe(201);
  });

  it.each([
    ['192.0.2.10', /IP address/],
    ['localhost', /no dot/],
    ['a..example.jp', /empty label/],
    [`${'x'.repeat(64)}.jp`, /longer than 63/],
  ])('refuse %s with 400 naming body.name', async (name, message) => {
    const c = (await call('POST', '/v1/customers', admin, newCustomer())).json();
    const res = await call('POST', `/v1/customers/${c.id}/domains`, salesA, { name });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0]).toMatchObject({ path: 'body.name', message: expect.stringMatching(message) });
  });

  it('are added, read and removed, each change a new customer version', async () => {
    const c = (await call('POST', '/v1/customers', admin, newCustomer())).json();
    const added = await call('POST', `/v1/customers/${c.id}/domains`, salesA, { name: 'ドメイン.example.jp' });
    expect(added.statusCode).toBe(201);
    expect(added.json()).toMatchObject({ name: 'xn--eckwd4c7c.example.jp', displayName: 'ドメイン.example.jp', customerId: c.id });
    expect((await call('POST', `/v1/customers/${c.id}/domains`, salesA, { name: 'ドメイン.example.jp' })).statusCode).toBe(409);
    const read = await call('GET', `/v1/domains/${added.json().id}`, salesA);
    expect(read.json().latestVerdict).toBeNull();
    expect((await call('GET', `/v1/customers/${c.id}`, salesA)).headers.etag).toBe('"2"');
    expect((await call('DELETE', `/v1/domains/${added.json().id}`, salesA)).statusCode).toBe(403);
    expect((await call('DELETE', `/v1/domains/${added.json().id}`, manager)).statusCode).toBe(204);
    const archived = await call('GET', `/v1/domains/${added.json().id}`, salesA);
    expect(archived.statusCode).toBe(200);
    expect(archived.json().archived).toMatchObject({ by: expect.stringContaining('token:') });
    expect((await call('GET', `/v1/customers/${c.id}`, salesA)).json()).toMatchObject({ version: 3, domains: [] });
  });
});

describe('reassignment and handover', () => {
  async function openTask(customerId: string, assigneeId: string, milestone: string) {
    await t.db.insert(tasks).values({
      programId: program.id,
      customerId,
      assigneeId,
      kind: 'reminder',
      milestone,
      dedupeKey: `${customerId}:${milestone}`,
      title: 'Call the customer',
      dueAt: new Date(),
    });
  }

  it('moves a customer and its open tasks to another owner, and refuses an inactive one', async () => {
    const c = (await call('POST', '/v1/customers', admin, newCustomer())).json();
    await openTask(c.id, ownerA.id, 'T-30');
    const res = await call('POST', `/v1/customers/${c.id}/reassign`, manager, { salesOwnerId: ownerB.id }, ifMatch(1));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ salesOwnerId: ownerB.id, version: 2 });
    expect((await t.db.select().from(tasks).where(eq(tasks.customerId, c.id)))[0]!.assigneeId).toBe(ownerB.id);
    const kept = await call('POST', `/v1/customers/${c.id}/reassign`, manager, { salesOwnerId: ownerA.id, moveOpenTasks: false }, ifMatch(2));
    expect(kept.statusCode).toBe(200);
    expect((await t.db.select().from(tasks).where(eq(tasks.customerId, c.id)))[0]!.assigneeId).toBe(ownerB.id);
    const retired = await makeSalesOwner(t.db, { department: 'Sales 1', active: false });
    const refused = await call('POST', `/v1/customers/${c.id}/reassign`, manager, { salesOwnerId: retired.id }, ifMatch(3));
    expect(refused.statusCode).toBe(400);
    expect((await call('POST', `/v1/customers/${c.id}/reassign`, salesA, { salesOwnerId: ownerB.id }, ifMatch(3))).statusCode).toBe(403);
  });

  it("hands a leaving owner's whole book over in one transaction", async () => {
    const leaving = await makeSalesOwner(t.db, { department: 'Sales 1' });
    const heir = await makeSalesOwner(t.db, { department: 'Sales 1' });
    const mine = [await makeCustomer(t.db, program.id, leaving.id), await makeCustomer(t.db, program.id, leaving.id)];
    await openTask(mine[0]!.id, leaving.id, 'T-7');
    const res = await call('POST', `/v1/sales-owners/${leaving.id}/handover`, manager, { toSalesOwnerId: heir.id, deactivate: true });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ customersMoved: 2, tasksMoved: 1 });
    expect(await t.db.$count(customers, eq(customers.salesOwnerId, heir.id))).toBe(2);
    expect((await t.db.select().from(salesOwners).where(eq(salesOwners.id, leaving.id)))[0]!.active).toBe(false);
    const self = await call('POST', `/v1/sales-owners/${heir.id}/handover`, manager, { toSalesOwnerId: heir.id });
    expect(self.statusCode).toBe(400);
    const otherDept = await call('POST', `/v1/sales-owners/${heir.id}/handover`, manager, { toSalesOwnerId: ownerC.id });
    expect(otherDept.statusCode).toBe(404);
    expect(await t.db.$count(customers, eq(customers.salesOwnerId, heir.id))).toBe(2);
  });
});

describe('sales owners', () => {
  it('have unique emails whatever their case, and managers without cycles', async () => {
    const boss = (await call('POST', '/v1/sales-owners', admin, { name: '部長', email: 'Boss@Example.jp', department: 'Sales 1' })).json();
    expect(boss.email).toBe('boss@example.jp');
    const dup = await call('POST', '/v1/sales-owners', admin, { name: 'x', email: 'BOSS@example.JP', department: 'Sales 1' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().errors[0].path).toBe('body.email');
    const rep = (await call('POST', '/v1/sales-owners', admin, { name: '担当', email: 'rep@example.jp', department: 'Sales 1', managerId: boss.id })).json();
    const sub = (await call('POST', '/v1/sales-owners', admin, { name: '新人', email: 'sub@example.jp', department: 'Sales 1', managerId: rep.id })).json();
    const cycle = await call('PATCH', `/v1/sales-owners/${boss.id}`, admin, { managerId: sub.id }, ifMatch(1));
    expect(cycle.statusCode).toBe(400);
    expect(cycle.json().errors[0]).toMatchObject({ path: 'body.managerId', message: expect.stringMatching(/cycle/) });
    const selfManaged = await call('PATCH', `/v1/sales-owners/${boss.id}`, admin, { managerId: boss.id }, ifMatch(1));
    expect(selfManaged.statusCode).toBe(400);
    const fine = await call('PATCH', `/v1/sales-owners/${sub.id}`, admin, { managerId: boss.id }, ifMatch(1));
    expect(fine.statusCode).toBe(200);
  });

  it('are created by managers only in their own department', async () => {
    expect((await call('POST', '/v1/sales-owners', manager, { name: 'a', email: 'a1@example.jp', department: 'Sales 1' })).statusCode).toBe(201);
    expect((await call('POST', '/v1/sales-owners', manager, { name: 'b', email: 'b1@example.jp', department: 'Sales 2' })).statusCode).toBe(403);
    expect((await call('POST', '/v1/sales-owners', salesA, { name: 'c', email: 'c1@example.jp', department: 'Sales 1' })).statusCode).toBe(403);
  });
});

describe('visibility: role × own/other × read/write', () => {
  it('lets sales see and change only their own customers, managers their department, admins all; others are 404', async () => {
    const mk = async (owner: { id: string }) =>
      (await call('POST', '/v1/customers', admin, newCustomer({ salesOwnerId: owner.id, domains: [`v${++seq}.example.jp`] }))).json();
    const own = await mk(ownerA);
    const sameDept = await mk(ownerB);
    const otherDept = await mk(ownerC);
    const sees: Record<string, [string, Record<string, boolean>]> = {
      sales: [salesA, { own: true, sameDept: false, otherDept: false }],
      manager: [manager, { own: true, sameDept: true, otherDept: false }],
      admin: [admin, { own: true, sameDept: true, otherDept: true }],
    };
    const targets = { own, sameDept, otherDept };
    for (const [role, [token, visible]] of Object.entries(sees)) {
      for (const [which, c] of Object.entries(targets)) {
        const ok = visible[which]!;
        const where = `${role} × ${which}`;
        expect((await call('GET', `/v1/customers/${c.id}`, token)).statusCode, `read ${where}`).toBe(ok ? 200 : 404);
        expect((await call('GET', `/v1/customers/${c.id}/history`, token)).statusCode, `history ${where}`).toBe(ok ? 200 : 404);
        expect((await call('GET', `/v1/domains/${c.domains[0].id}`, token)).statusCode, `domain ${where}`).toBe(ok ? 200 : 404);
        const version = (await t.db.select().from(customers).where(eq(customers.id, c.id)))[0]!.version;
        const patch = await call('PATCH', `/v1/customers/${c.id}`, token, { notes: `${role} was here` }, ifMatch(version));
        expect(patch.statusCode, `write ${where}`).toBe(ok ? 200 : 404);
        const move = await call('POST', `/v1/customers/${c.id}/transitions`, token, { to: 'on_hold' }, ifMatch(ok ? version + 1 : version));
        expect(move.statusCode, `transition ${where}`).toBe(ok ? 200 : 404);
        const add = await call('POST', `/v1/customers/${c.id}/domains`, token, { name: `${role}-${which}-${seq}.example.jp` });
        expect(add.statusCode, `add domain ${where}`).toBe(ok ? 201 : 404);
        if (ok) {
          await call('POST', `/v1/customers/${c.id}/transitions`, token, { to: 'not_contacted' }, ifMatch(version + 3));
        }
      }
      const listed = (await call('GET', `/v1/customers?programId=${program.id}&limit=200`, token)).json().items.map((c: { id: string }) => c.id);
      for (const [which, c] of Object.entries(targets)) expect(listed.includes(c.id), `list ${role} × ${which}`).toBe(visible[which]);
    }
    // Sales owners: sales see themselves, managers their department.
    expect((await call('GET', `/v1/sales-owners/${ownerA.id}`, salesA)).statusCode).toBe(200);
    expect((await call('GET', `/v1/sales-owners/${ownerB.id}`, salesA)).statusCode).toBe(404);
    expect((await call('GET', `/v1/sales-owners/${ownerB.id}`, manager)).statusCode).toBe(200);
    expect((await call('GET', `/v1/sales-owners/${ownerC.id}`, manager)).statusCode).toBe(404);
    const salesList = (await call('GET', '/v1/sales-owners', salesA)).json().items.map((o: { id: string }) => o.id);
    expect(salesList).toEqual([ownerA.id]);
    // Writes outside the role: 403 whatever the target.
    expect((await call('POST', '/v1/customers', salesA, newCustomer())).statusCode).toBe(403);
    expect((await call('DELETE', `/v1/domains/${own.domains[0].id}`, salesA)).statusCode).toBe(403);
    expect((await call('DELETE', `/v1/domains/${otherDept.domains[0].id}`, manager)).statusCode).toBe(404);
    expect((await call('POST', '/v1/customers', manager, newCustomer({ salesOwnerId: ownerC.id }))).statusCode).toBe(400);
  });
});
