import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { dnsChecks, domains, statusEvents, tasks } from '../db/schema/index.ts';
import type { CustomerStatus } from '../db/schema/enums.ts';
import { apiClient } from './helpers/api.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

// 2022-09-01 12:00 in Tokyo: 29 days before the shutdown, 60 before the SPF-record deletion.
const now = new Date('2022-09-01T03:00:00Z');
const at = (day: string) => new Date(`${day}T03:00:00Z`);
let t: TestApp;
let call: ReturnType<typeof apiClient>;
let programId: string;
let admin: string;
let salesA: string;
const ids: Record<string, string> = {};

beforeAll(async () => {
  t = await buildTestApp({ now: () => now });
  call = apiClient(t.app);
  const program = await makeProgram(t.db, { shutdownAt: '2022-09-30', spfRecordDeletionAt: '2022-10-31', timezone: 'Asia/Tokyo', createdAt: at('2022-08-01') });
  programId = program.id;
  const a = await makeSalesOwner(t.db, { name: 'A', department: 'D1' });
  const b = await makeSalesOwner(t.db, { name: 'B', department: 'D2' });
  admin = (await makeToken(t.db, 'admin')).token;
  salesA = (await makeToken(t.db, 'sales', { salesOwnerId: a.id })).token;

  /** A customer with one domain, its current facts, and its history. */
  const add = async (
    key: string,
    owner: { id: string },
    status: CustomerStatus,
    domain: { verdict: 'clean' | 'needs_spf_cleanup' | 'needs_mx_and_spf' | null; mx?: string; breaks?: boolean; determined?: string },
    history: { done?: [CustomerStatus, string][]; cleanOn?: string; planned?: string } = {},
  ) => {
    const c = await makeCustomer(t.db, programId, owner.id, {
      status,
      name: `Customer ${key}`,
      createdAt: at('2022-08-01'),
      plannedMigrationAt: history.planned ?? null,
    });
    ids[key] = c.id;
    const d = await makeDomain(t.db, c, {
      latestVerdict: domain.verdict,
      latestMxState: domain.mx ?? null,
      breaksAtDeletion: domain.breaks ?? null,
      lastDeterminedAt: domain.determined ? new Date(domain.determined) : null,
      createdAt: at('2022-08-01'),
    });
    for (const [to, day] of history.done ?? [])
      await t.db.insert(statusEvents).values({ customerId: c.id, fromStatus: 'contacted', toStatus: to, actor: 'test', at: at(day) });
    if (history.cleanOn) {
      await t.db.insert(dnsChecks).values({
        domainId: d.id,
        checkedAt: at(history.cleanOn),
        outcome: 'determined',
        verdict: 'clean',
        result: {},
        durationMs: 1,
        resolver: 'test',
        verdictChanged: true,
      });
    }
  };
  await add('c1', a, 'not_contacted', { verdict: 'needs_mx_and_spf', mx: 'legacy', breaks: true, determined: '2022-08-31T03:00:00Z' });
  await add(
    'c2',
    a,
    'contacted',
    { verdict: 'needs_spf_cleanup', mx: 'successor', breaks: true, determined: '2022-08-29T03:00:00Z' },
    { planned: '2022-08-20' },
  );
  await add('c3', a, 'migrating', { verdict: null }, { planned: '2022-09-20' });
  await add(
    'c4',
    a,
    'migrated',
    { verdict: 'clean', mx: 'successor', breaks: false, determined: '2022-08-31T03:00:00Z' },
    { done: [['migrated', '2022-08-10']], cleanOn: '2022-08-15' },
  );
  await add(
    'c5',
    b,
    'completed',
    { verdict: 'clean', mx: 'successor', breaks: false, determined: '2022-08-31T03:00:00Z' },
    {
      done: [
        ['migrated', '2022-08-05'],
        ['completed', '2022-08-20'],
      ],
      cleanOn: '2022-08-05',
    },
  );
  await add(
    'c6',
    b,
    'declined',
    { verdict: 'needs_spf_cleanup', mx: 'successor', breaks: true, determined: '2022-08-31T03:00:00Z' },
    { done: [['declined', '2022-08-25']] },
  );
  await add('c7', b, 'planned', { verdict: 'clean', mx: 'other', breaks: false, determined: '2022-08-31T03:00:00Z' }, { cleanOn: '2022-08-31' });
  const task = (customerId: string, assigneeId: string, due: string, key: string) => ({
    programId,
    customerId,
    assigneeId,
    kind: 'reminder' as const,
    milestone: key,
    dedupeKey: key,
    title: key,
    dueAt: at(due),
  });
  await t.db.insert(tasks).values([task(ids.c1!, a.id, '2022-08-25', 'k1'), task(ids.c2!, a.id, '2022-09-15', 'k2')]);
});
afterAll(() => t.close());

describe('readiness', () => {
  it('counts customers, domains, the blast radius and stale evidence', async () => {
    const res = await call('GET', `/v1/programs/${programId}/readiness`, admin);
    expect(res.statusCode).toBe(200);
    const r = res.json();
    expect(r).toMatchObject({ today: '2022-09-01', daysToShutdown: 29, daysToSpfRecordDeletion: 60 });
    expect(r.customers).toEqual({
      total: 7,
      active: 6,
      statusCounts: { not_contacted: 1, contacted: 1, planned: 1, migrating: 1, migrated: 1, completed: 1, declined: 1, cancelled: 0, on_hold: 0 },
      migratedPercent: 33.3,
      completedPercent: 16.7,
    });
    expect(r.domains).toEqual({
      total: 7,
      byVerdict: { needs_mx_and_spf: 1, needs_spf_cleanup: 2, clean: 3, unchecked: 1 },
      blastRadius: 3,
      mxOnLegacy: 1,
      notVerifiedIn48h: 2,
      unverified: 1,
      notFound: 0,
      notFoundDismissed: 0,
    });
  });

  it('breaks the numbers down by owner and department, and ranks the customers at risk', async () => {
    const r = (await call('GET', `/v1/programs/${programId}/readiness`, admin)).json();
    expect(
      r.bySalesOwner.map((o: { name: string; openTasks: number; overdueTasks: number; atRisk: number }) => [o.name, o.openTasks, o.overdueTasks, o.atRisk]),
    ).toEqual([
      ['A', 2, 1, 2],
      ['B', 0, 0, 1],
    ]);
    expect(r.bySalesOwner[0].statusCounts).toMatchObject({ not_contacted: 1, contacted: 1, migrating: 1, migrated: 1, completed: 0 });
    expect(r.byDepartment.map((d: { department: string; atRisk: number }) => [d.department, d.atRisk])).toEqual([
      ['D1', 2],
      ['D2', 1],
    ]);
    // c1: 61 days short, MX on legacy (60), an SPF that breaks at the deletion without DMARC (10).
    expect(r.atRiskCustomers.map((c: { name: string; risk: number; reasonCodes: string[] }) => [c.name, c.risk, c.reasonCodes])).toEqual([
      ['Customer c1', 131, ['shutdown_near', 'mx_on_legacy', 'breaks_at_deletion']],
      ['Customer c2', 53, ['shutdown_near', 'planned_date_passed', 'breaks_at_deletion']],
      ['Customer c7', 1, ['shutdown_near']],
    ]);
    expect(r.atRiskCustomers[1].reasons).toEqual([
      '29 days to the shutdown, under the 60 a contacted customer needs',
      'planned for 2022-08-20, which has passed',
      'a domain still references the legacy SPF record: its SPF turns permerror once the record is deleted',
    ]);
  });

  it('ranks at risk by deadline, status and DNS impact: MX on legacy ranks high, and a migrated customer whose mail is rejected at the deletion is listed', async () => {
    const program = await makeProgram(t.db, { shutdownAt: '2022-09-30', spfRecordDeletionAt: '2022-10-31', timezone: 'Asia/Tokyo' });
    const owner = await makeSalesOwner(t.db, { name: 'R', department: 'D8' });
    const add = async (name: string, status: CustomerStatus, ...domainFacts: Partial<typeof domains.$inferInsert>[]) => {
      const c = await makeCustomer(t.db, program.id, owner.id, { status, name });
      for (const facts of domainFacts) await makeDomain(t.db, c, facts);
    };
    const clean = { latestVerdict: 'clean', latestMxState: 'successor', breaksAtDeletion: false } as const;
    const legacyMx = { latestVerdict: 'needs_mx_change', latestMxState: 'legacy', breaksAtDeletion: false } as const;
    const breaks = (dmarcPolicy: string | null, successorDkim: boolean | null = null) =>
      ({ latestVerdict: 'needs_spf_cleanup', latestMxState: 'successor', breaksAtDeletion: true, dmarcPolicy, successorDkim }) as const;
    await add('planned, MX on legacy', 'planned', legacyMx, clean);
    await add('planned, moved', 'planned', clean);
    await add('migrated, rejected at deletion', 'migrated', clean, breaks('reject'));
    await add('migrated, rejected but DKIM', 'migrated', breaks('reject', true));
    await add('migrated, quarantined', 'migrated', breaks('quarantine'));
    await add('migrated, MX still on legacy', 'migrated', legacyMx);
    await add('migrated, MX partly on legacy', 'migrated', { ...clean, latestMxState: 'mixed', latestVerdict: 'needs_mx_change' });
    // Not listed: an SPF permerror alone (mail still flows), a dead reference, a final customer.
    await add('migrated, permerror only', 'migrated', breaks('none'));
    await add('migrated, dead reference', 'migrated', { ...breaks('reject'), breaksAtDeletion: false });
    await add('completed, rejected at deletion', 'completed', breaks('reject'));
    await add('migrating, moved', 'migrating', clean);

    const r = (await call('GET', `/v1/programs/${program.id}/readiness`, admin)).json();
    expect(r.atRiskCustomers.map((c: { name: string; risk: number; reasonCodes: string[] }) => [c.name, c.risk, c.reasonCodes])).toEqual([
      ['planned, MX on legacy', 61, ['shutdown_near', 'mx_on_legacy']],
      ['migrated, MX still on legacy', 60, ['mx_on_legacy']],
      ['migrated, rejected at deletion', 60, ['breaks_at_deletion_reject']],
      ['migrated, MX partly on legacy', 30, ['mx_partly_on_legacy']],
      ['migrated, quarantined', 30, ['breaks_at_deletion_quarantine']],
      ['migrated, rejected but DKIM', 30, ['breaks_at_deletion_reject']],
      ['planned, moved', 1, ['shutdown_near']],
    ]);
    expect(r.atRiskCustomers[2].reasons).toEqual([
      'a domain still references the legacy SPF record, under DMARC p=reject: its mail is rejected once the record is deleted',
    ]);
    expect(r.bySalesOwner.map((o: { name: string; atRisk: number }) => [o.name, o.atRisk])).toEqual([['R', 7]]);
  });

  it('rebuilds the burndown from history and projects it at the trailing 14-day pace', async () => {
    const r = (await call('GET', `/v1/programs/${programId}/readiness`, admin)).json();
    const on = (day: string) => r.burndown.find((p: { day: string }) => p.day === day);
    expect(r.burndown).toHaveLength(32);
    expect(r.burndown[0]).toEqual({ day: '2022-08-01', customersNotMigrated: 7, domainsNotClean: 7 });
    expect(on('2022-08-05')).toEqual({ day: '2022-08-05', customersNotMigrated: 6, domainsNotClean: 6 });
    expect(on('2022-08-18')).toEqual({ day: '2022-08-18', customersNotMigrated: 5, domainsNotClean: 5 });
    expect(on('2022-09-01')).toEqual({ day: '2022-09-01', customersNotMigrated: 4, domainsNotClean: 4 });
    expect(r.projection).toEqual({
      migration: { remaining: 4, perDay: 0.07, projectedAt: '2022-10-27', deadline: '2022-09-30', onTime: false },
      spfCleanup: { remaining: 4, perDay: 0.07, projectedAt: '2022-10-27', deadline: '2022-10-31', onTime: true },
    });
  });

  it('keeps both gates shut while any domain is on legacy MX, in the blast radius, or unverified', async () => {
    const r = (await call('GET', `/v1/programs/${programId}/readiness`, admin)).json();
    expect(r.gates).toEqual({
      mxCutoverReady: { ready: false, mxOnLegacy: 1, unverified: 1, domainsNotFound: 0 },
      spfRecordDeletionSafe: { safe: false, blastRadius: 3, unverified: 1, domainsNotFound: 0, evidenceAsOf: '2022-08-29T03:00:00.000Z' },
    });
  });

  it('shows a sales token only its own numbers', async () => {
    const r = (await call('GET', `/v1/programs/${programId}/readiness`, salesA)).json();
    expect(r.customers.total).toBe(4);
    expect(r.domains).toMatchObject({ total: 4, blastRadius: 2 });
    expect(r.bySalesOwner.map((o: { name: string }) => o.name)).toEqual(['A']);
    expect(r.atRiskCustomers.map((c: { name: string }) => c.name)).toEqual(['Customer c1', 'Customer c2']);
    expect(r.burndown.at(-1)).toEqual({ day: '2022-09-01', customersNotMigrated: 3, domainsNotClean: 3 });
  });

  it('exports the per-owner figures as CSV', async () => {
    const res = await call('GET', `/v1/programs/${programId}/readiness.csv`, admin);
    const lines = res.body.slice(1).trim().split('\r\n');
    expect(lines[0]).toBe(
      'department,sales_owner,not_contacted,contacted,planned,migrating,migrated,completed,declined,cancelled,on_hold,open_tasks,overdue_tasks,at_risk',
    );
    expect(lines[1]).toBe('D1,A,1,1,0,1,1,0,0,0,0,2,1,2');
    expect(lines[2]).toBe('D2,B,0,0,1,0,0,1,1,0,0,0,0,1');
  });

  it('counts a domain that regresses as not clean again from that check until a clean one, whatever order the checks arrive in', async () => {
    const program = await makeProgram(t.db, { shutdownAt: '2022-09-30', timezone: 'Asia/Tokyo', createdAt: at('2022-08-01') });
    const owner = await makeSalesOwner(t.db, { department: 'D9' });
    const customer = await makeCustomer(t.db, program.id, owner.id, { status: 'migrated', createdAt: at('2022-08-01') });
    const flapping = await makeDomain(t.db, customer, { createdAt: at('2022-08-01') });
    const archived = await makeDomain(t.db, customer, { createdAt: at('2022-08-01') });
    const check = (domainId: string, day: string, verdict: 'clean' | 'needs_spf_cleanup', verdictChanged = true) => ({
      domainId,
      checkedAt: at(day),
      outcome: 'determined' as const,
      verdict,
      result: {},
      durationMs: 1,
      resolver: 'test',
      verdictChanged,
    });
    // The first clean check (5 Aug) arrives last, back-dated; a repeated clean check changes nothing.
    for (const c of [
      check(flapping.id, '2022-08-07', 'clean', false),
      check(flapping.id, '2022-08-10', 'needs_spf_cleanup'),
      check(flapping.id, '2022-08-20', 'clean'),
      check(flapping.id, '2022-08-05', 'clean'),
      check(archived.id, '2022-08-03', 'clean'),
      check(archived.id, '2022-08-12', 'needs_spf_cleanup'),
    ])
      await t.db.insert(dnsChecks).values(c);
    // Deleting a domain ends the spell it regressed into.
    await t.db
      .update(domains)
      .set({ archivedAt: at('2022-08-15'), archivedBy: 'test' })
      .where(eq(domains.id, archived.id));
    const [row] = await t.db.select().from(domains).where(eq(domains.id, flapping.id));
    expect(row!.cleanChanges).toEqual([at('2022-08-05'), at('2022-08-10'), at('2022-08-20')]);

    const r = (await call('GET', `/v1/programs/${program.id}/readiness`, admin)).json();
    const notClean = Object.fromEntries(r.burndown.map((p: { day: string; domainsNotClean: number }) => [p.day, p.domainsNotClean]));
    expect(['08-01', '08-03', '08-05', '08-09', '08-10', '08-12', '08-14', '08-15', '08-19', '08-20', '09-01'].map((d) => [d, notClean[`2022-${d}`]])).toEqual([
      ['08-01', 2],
      ['08-03', 1],
      ['08-05', 0],
      ['08-09', 0],
      ['08-10', 1],
      ['08-12', 2],
      ['08-14', 2],
      ['08-15', 1],
      ['08-19', 1],
      ['08-20', 0],
      ['09-01', 0],
    ]);
  });

  // Runs last: it adds history to c4.
  it('counts each customer and domain out at its earliest exit, whatever order the history arrives in', async () => {
    const series = async () =>
      (await call('GET', `/v1/programs/${programId}/readiness`, admin)).json().burndown as {
        day: string;
        customersNotMigrated: number;
        domainsNotClean: number;
      }[];
    const before = await series();
    // A later re-completion and a later clean check change nothing: c4 left on 10 Aug, its domain on 15 Aug.
    const [domain] = await t.db.select().from(domains).where(eq(domains.customerId, ids.c4!));
    await t.db.insert(statusEvents).values({ customerId: ids.c4!, fromStatus: 'migrated', toStatus: 'completed', actor: 'test', at: at('2022-08-25') });
    await t.db.insert(dnsChecks).values({
      domainId: domain!.id,
      checkedAt: at('2022-08-28'),
      outcome: 'determined',
      verdict: 'clean',
      result: {},
      durationMs: 1,
      resolver: 'test',
      verdictChanged: false,
    });
    expect(await series()).toEqual(before);
    // History arriving back-dated moves the exit earlier: a clean check on 12 Aug found late.
    await t.db.insert(dnsChecks).values({
      domainId: domain!.id,
      checkedAt: at('2022-08-12'),
      outcome: 'determined',
      verdict: 'clean',
      result: {},
      durationMs: 1,
      resolver: 'test',
      verdictChanged: true,
    });
    const after = await series();
    const changed = after.filter((p, i) => p.domainsNotClean !== before[i]!.domainsNotClean).map((p) => p.day);
    expect(changed).toEqual(['2022-08-12', '2022-08-13', '2022-08-14']);
    expect(after.map((p) => p.customersNotMigrated)).toEqual(before.map((p) => p.customersNotMigrated));
  });
});
