import { randomBytes } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, customers, dnsChecks, domains, statusEvents, tasks } from '../db/schema/index.ts';
import { createBullRuntime, startBullWorkers } from '../jobs/bullmq.ts';
import { InlineJobRuntime } from '../jobs/inline.ts';
import { sweepDomains } from '../jobs/processors/sweep-domains.ts';
import { KEEP_CHECKS } from '../src/probes/check-repository.ts';
import { probeDomain, probeDomains, type ProbeDeps } from '../src/probes/probe-service.ts';
import { createResolver, type DnsLookup } from '../src/dns/resolver.ts';
import { apiClient } from './helpers/api.ts';
import { buildTestApp, eventually, testLogger, type TestApp } from './helpers/build-test-app.ts';
import { TestDnsServer, type ZoneRecord } from './helpers/dns-server.ts';
import { TEST_REDIS_URL } from './helpers/env.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

let server: TestDnsServer;
let dns: DnsLookup;
let t: TestApp;
let program: { id: string };
let owner: { id: string };
let clock = new Date('2022-06-01T00:00:00Z');
const log = testLogger();
const deps = (): ProbeDeps => ({ db: t.db, dns, now: () => clock, log });
const HOUR = 3_600_000;

/** Zone states a domain can be put in. */
const states: Record<string, ZoneRecord[]> = {
  legacy: [
    { type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net -all' },
    { type: 'MX', data: [10, 'mx1.po.2iij.net'] },
  ],
  spfOnly: [
    { type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net -all' },
    { type: 'MX', data: [10, 'in.mx.gateway.example'] },
  ],
  clean: [
    { type: 'TXT', data: 'v=spf1 include:spf.gateway.example -all' },
    { type: 'MX', data: [10, 'in.mx.gateway.example'] },
  ],
};
const faults = ['timeout', 'servfail', 'refused', 'truncated', 'malformed'] as const;
const put = (name: string, state: keyof typeof states | (typeof faults)[number]) =>
  server.set(name, state in states ? { records: states[state as keyof typeof states] } : { fault: state as (typeof faults)[number] });

let n = 0;
async function domainIn(state: keyof typeof states, customerStatus: 'contacted' | 'migrated' | 'completed' = 'contacted', programId = program.id) {
  const customer = await makeCustomer(t.db, programId, owner.id, { status: customerStatus });
  const name = `c${++n}-${randomBytes(2).toString('hex')}.example.jp`;
  put(name, state);
  const domain = await makeDomain(t.db, customer, { name, displayName: name, nextCheckAt: new Date(0) });
  return { customer, domain, name };
}
const domainRow = async (id: string) => (await t.db.select().from(domains).where(eq(domains.id, id)))[0]!;
const customerRow = async (id: string) => (await t.db.select().from(customers).where(eq(customers.id, id)))[0]!;
const tasksOf = (domainId: string) => t.db.select().from(tasks).where(eq(tasks.domainId, domainId));

beforeAll(async () => {
  server = await TestDnsServer.start();
  server.set('spf.po.2iij.net', { records: [{ type: 'TXT', data: 'v=spf1 ip4:210.130.0.0/16 -all' }] });
  server.set('spf.gateway.example', { records: [{ type: 'TXT', data: 'v=spf1 ip4:203.0.113.0/24 ~all' }] });
  dns = createResolver({ servers: [server.address], timeoutMs: 200, tries: 1 });
  t = await buildTestApp({ now: () => clock, dns });
  program = await makeProgram(t.db, {
    legacySpfIncludes: ['spf.po.2iij.net'],
    legacyMxHostSuffixes: ['po.2iij.net'],
    successorSpfIncludes: ['spf.gateway.example'],
    successorMxHostSuffixes: ['mx.gateway.example'],
    shutdownAt: '2022-09-30',
    spfRecordDeletionAt: '2023-03-31',
  });
  owner = await makeSalesOwner(t.db);
});
afterAll(async () => {
  await t.close();
  await server.close();
});

describe('a check', () => {
  it('stores its evidence and sets the verdict, the times and the next check by cadence', async () => {
    const { domain } = await domainIn('legacy');
    const summary = await probeDomain(deps(), domain.id, 'sweep');
    expect(summary).toMatchObject({ outcome: 'determined', verdict: 'needs_mx_and_spf', verdictChanged: true });
    const d = await domainRow(domain.id);
    expect(d).toMatchObject({ latestVerdict: 'needs_mx_and_spf', lastCheckedAt: clock, lastDeterminedAt: clock, consecutiveFailures: 0 });
    expect(d.nextCheckAt.getTime() - clock.getTime()).toBe(6 * HOUR);
    const [check] = await t.db.select().from(dnsChecks).where(eq(dnsChecks.domainId, domain.id));
    expect(check).toMatchObject({
      outcome: 'determined',
      verdict: 'needs_mx_and_spf',
      mxState: 'legacy',
      spfState: 'legacy_referenced',
      resolver: server.address,
      trigger: 'sweep',
    });
    expect((check!.result as { spf: { suggestedRecord: string } }).spf.suggestedRecord).toBe('v=spf1 include:spf.gateway.example -all');
    const events = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityId, domain.id), eq(auditLog.action, 'domain.verdict_changed')));
    expect(events).toHaveLength(1);
  });

  it('checks domains needing action hourly in the 14 days before a deadline, clean ones daily', async () => {
    const saved = clock;
    clock = new Date('2022-09-20T00:00:00Z');
    const { domain: urgent } = await domainIn('legacy');
    await probeDomain(deps(), urgent.id, 'sweep');
    expect((await domainRow(urgent.id)).nextCheckAt.getTime() - clock.getTime()).toBe(HOUR);
    const { domain: clean } = await domainIn('clean', 'migrated');
    await probeDomain(deps(), clean.id, 'sweep');
    expect((await domainRow(clean.id)).nextCheckAt.getTime() - clock.getTime()).toBe(24 * HOUR);
    clock = saved;
  });

  it('keeps the last verdict through DNS failures, counts them, and opens one unable-to-verify task at the third', async () => {
    const { domain, name } = await domainIn('spfOnly');
    await probeDomain(deps(), domain.id, 'sweep');
    put(name, 'timeout');
    for (let i = 1; i <= 4; i++) {
      const s = await probeDomain(deps(), domain.id, 'sweep');
      expect(s).toMatchObject({ outcome: 'error', verdict: 'unknown' });
      const d = await domainRow(domain.id);
      expect(d).toMatchObject({ latestVerdict: 'needs_spf_cleanup', consecutiveFailures: i });
      expect(d.nextCheckAt.getTime() - clock.getTime()).toBe(Math.min(5 * 60_000 * 2 ** (i - 1), 6 * HOUR));
    }
    expect((await tasksOf(domain.id)).map((x) => [x.kind, x.status])).toEqual([['unable_to_verify', 'open']]);
    const errors = await t.db
      .select()
      .from(dnsChecks)
      .where(and(eq(dnsChecks.domainId, domain.id), eq(dnsChecks.outcome, 'error')));
    expect(errors).toHaveLength(4);
    expect(errors.every((c) => c.verdict === null)).toBe(true);
    put(name, 'spfOnly');
    await probeDomain(deps(), domain.id, 'sweep');
    expect((await tasksOf(domain.id)).map((x) => x.status)).toEqual(['closed']);
  });

  it('makes the unable-to-verify task due three days after it opens, not overdue at once', async () => {
    const { domain, name } = await domainIn('spfOnly');
    await probeDomain(deps(), domain.id, 'sweep');
    put(name, 'servfail');
    for (let i = 1; i <= 3; i++) await probeDomain(deps(), domain.id, 'sweep');
    const [task] = await tasksOf(domain.id);
    expect(task).toMatchObject({ kind: 'unable_to_verify', status: 'open', dueAt: new Date(clock.getTime() + 3 * 24 * HOUR) });
    const { token } = await makeToken(t.db, 'sales', { salesOwnerId: owner.id });
    const listed = await apiClient(t.app)('GET', `/v1/tasks?customerId=${task!.customerId}`, token);
    expect(listed.json().items).toMatchObject([{ id: task!.id, overdue: false }]);
  });

  it.each(faults)('treats a %s answer as a temporary error: evidence kept, last verdict kept, retried with backoff', async (fault) => {
    const { domain, name } = await domainIn('clean');
    await probeDomain(deps(), domain.id, 'sweep');
    put(name, fault);
    for (let i = 1; i <= 2; i++) {
      const s = await probeDomain(deps(), domain.id, 'sweep');
      expect(s).toMatchObject({ outcome: 'error', verdict: 'unknown' });
      const d = await domainRow(domain.id);
      expect(d).toMatchObject({ latestVerdict: 'clean', consecutiveFailures: i });
      expect(d.nextCheckAt.getTime() - clock.getTime()).toBe(5 * 60_000 * 2 ** (i - 1));
    }
  });

  it('looks up the program\u2019s DKIM selectors of both sides and keeps what it found with the evidence', async () => {
    const p = await makeProgram(t.db, {
      legacySpfIncludes: ['spf.po.2iij.net'],
      legacyDkimSelectors: ['s1'],
      legacyDkimTargets: ['dkim.po.2iij.net'],
      successorDkimSelectors: ['gw1'],
      successorDkimTargets: ['dkim.gateway.example'],
    });
    const { domain, name } = await domainIn('clean', 'contacted', p.id);
    server.set(`s1._domainkey.${name}`, { records: [{ type: 'CNAME', data: 's1.dkim.po.2iij.net' }] });
    server.set('s1.dkim.po.2iij.net', { records: [{ type: 'TXT', data: 'v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1' }] });
    server.set(`gw1._domainkey.${name}`, { records: [{ type: 'CNAME', data: 'gw1.dkim.gateway.example' }] });
    server.set('gw1.dkim.gateway.example', { records: [{ type: 'TXT', data: 'v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC2' }] });
    await probeDomain(deps(), domain.id, 'sweep');
    const [check] = await t.db.select().from(dnsChecks).where(eq(dnsChecks.domainId, domain.id));
    expect((check!.result as { dkim: unknown }).dkim).toMatchObject({
      legacyCleanup: [`s1._domainkey.${name}`],
      successorKeyPublished: true,
      selectors: [
        { selector: 's1', side: 'legacy', cnameTarget: 's1.dkim.po.2iij.net', pointsInto: 'legacy', keyPublished: true },
        { selector: 'gw1', side: 'successor', cnameTarget: 'gw1.dkim.gateway.example', pointsInto: 'successor', keyPublished: true },
      ],
    });
  });

  it('keeps on the domain what the reports need: breaks at deletion, DMARC policy, successor DKIM key', async () => {
    const p = await makeProgram(t.db, {
      legacySpfIncludes: ['spf.po.2iij.net'],
      successorSpfIncludes: ['spf.gateway.example'],
      successorDkimSelectors: ['gw1'],
    });
    const { domain, name } = await domainIn('spfOnly', 'contacted', p.id);
    server.set(`_dmarc.${name}`, { records: [{ type: 'TXT', data: 'v=DMARC1; p=reject' }] });
    await probeDomain(deps(), domain.id, 'sweep');
    expect(await domainRow(domain.id)).toMatchObject({ breaksAtDeletion: true, dmarcPolicy: 'reject', successorDkim: false });
    server.set(`gw1._domainkey.${name}`, { records: [{ type: 'TXT', data: 'v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC2' }] });
    await probeDomain(deps(), domain.id, 'sweep');
    expect(await domainRow(domain.id)).toMatchObject({ breaksAtDeletion: true, successorDkim: true });
    // A DNS failure on the selector tells nothing: the key found before stays.
    server.set(`gw1._domainkey.${name}`, { fault: 'servfail' });
    await probeDomain(deps(), domain.id, 'sweep');
    expect(await domainRow(domain.id)).toMatchObject({ successorDkim: true });
    put(name, 'clean');
    await probeDomain(deps(), domain.id, 'sweep');
    expect(await domainRow(domain.id)).toMatchObject({ breaksAtDeletion: false });
  });

  it('leaves the successor DKIM key unknown when the program names no successor selector', async () => {
    const { domain } = await domainIn('spfOnly');
    await probeDomain(deps(), domain.id, 'sweep');
    expect(await domainRow(domain.id)).toMatchObject({ breaksAtDeletion: true, successorDkim: null });
  });

  it('never marks a domain that was never determined as anything but unknown', async () => {
    const { domain } = await domainIn('legacy');
    await t.db.update(domains).set({ name: 'nowhere.example.invalid' }).where(eq(domains.id, domain.id));
    server.set('nowhere.example.invalid', { fault: 'timeout' });
    await probeDomain(deps(), domain.id, 'sweep');
    expect((await domainRow(domain.id)).latestVerdict).toBe('unknown');
  });
});

describe('regressions', () => {
  it('open one task for the owner once a completed customer\u2019s domain is confirmed unclean', async () => {
    const { domain, name } = await domainIn('clean', 'completed');
    await probeDomain(deps(), domain.id, 'sweep');
    expect((await domainRow(domain.id)).nextCheckAt.getTime() - clock.getTime()).toBe(168 * HOUR);
    put(name, 'spfOnly');
    await probeDomain(deps(), domain.id, 'sweep');
    expect(await tasksOf(domain.id)).toHaveLength(0);
    expect((await domainRow(domain.id)).nextCheckAt.getTime() - clock.getTime()).toBe(5 * 60_000);
    await probeDomain(deps(), domain.id, 'sweep');
    await probeDomain(deps(), domain.id, 'sweep');
    const [task] = await tasksOf(domain.id);
    expect(await tasksOf(domain.id)).toHaveLength(1);
    expect(task).toMatchObject({ kind: 'regression', status: 'open', assigneeId: owner.id });
    expect((await customerRow(task!.customerId!)).status).toBe('completed');
    // Overdue, it was escalated; closing the task closes its escalation too.
    const [escalation] = await t.db
      .insert(tasks)
      .values({
        programId: program.id,
        customerId: task!.customerId,
        assigneeId: owner.id,
        kind: 'escalation',
        milestone: 'escalation',
        dedupeKey: `escalation:${task!.id}`,
        title: 'overdue',
        details: {},
        dueAt: clock,
        escalatedFromId: task!.id,
      })
      .returning();
    put(name, 'clean');
    await probeDomain(deps(), domain.id, 'sweep');
    expect((await tasksOf(domain.id))[0]!.status).toBe('closed');
    expect((await t.db.select().from(tasks).where(eq(tasks.id, escalation!.id)))[0]).toMatchObject({
      status: 'closed',
      closeReason: 'the escalated task is closed',
    });
  });

  it('create nothing for a flap that reverts on the next check', async () => {
    const { domain, name } = await domainIn('clean', 'completed');
    await probeDomain(deps(), domain.id, 'sweep');
    put(name, 'spfOnly');
    await probeDomain(deps(), domain.id, 'sweep');
    put(name, 'clean');
    await probeDomain(deps(), domain.id, 'sweep');
    expect(await tasksOf(domain.id)).toHaveLength(0);
  });
});

describe('auto-progress', () => {
  it('moves a customer to migrated when every MX is on the successor and to completed when every domain is clean, citing checks', async () => {
    const { customer, domain, name } = await domainIn('spfOnly', 'contacted');
    const second = await makeDomain(t.db, customer, { name: `b-${name}`, displayName: `b-${name}`, nextCheckAt: new Date(0) });
    put(`b-${name}`, 'clean');
    await probeDomain(deps(), second.id, 'sweep');
    expect((await customerRow(customer.id)).status).toBe('contacted');
    const s = await probeDomain(deps(), domain.id, 'sweep');
    expect(s!.customerMovedTo).toBe('migrated');
    put(name, 'clean');
    expect((await probeDomain(deps(), domain.id, 'sweep'))!.customerMovedTo).toBe('completed');
    const events = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, customer.id)).orderBy(statusEvents.id);
    expect(events.map((e) => [e.fromStatus, e.toStatus, e.actor])).toEqual([
      ['contacted', 'migrated', 'system:dns'],
      ['migrated', 'completed', 'system:dns'],
    ]);
    expect(events[1]!.note).toMatch(/every domain verified clean \(checks \d+, \d+\)/);
  });

  it('never moves a customer backwards, and does nothing when the program switches it off', async () => {
    const { customer, domain, name } = await domainIn('clean', 'migrated');
    put(name, 'legacy');
    expect((await probeDomain(deps(), domain.id, 'sweep'))!.customerMovedTo).toBeNull();
    expect((await customerRow(customer.id)).status).toBe('migrated');
    const manual = await makeProgram(t.db, { autoProgress: false, legacySpfIncludes: ['spf.po.2iij.net'], successorMxHostSuffixes: ['mx.gateway.example'] });
    const off = await domainIn('clean', 'contacted', manual.id);
    expect((await probeDomain(deps(), off.domain.id, 'sweep'))!.customerMovedTo).toBeNull();
  });
});

describe('a batch of checks', () => {
  it('records each domain as a check of its own would, in one transaction, and moves a customer once', async () => {
    // One customer with two domains that turn clean together, a failing domain with a verdict to
    // keep, a completed customer's unclean domain, and a domain deleted (archived) before the batch runs.
    const { customer, domain: first, name } = await domainIn('clean', 'migrated');
    const second = await makeDomain(t.db, customer, { name: `b-${name}`, displayName: `b-${name}`, nextCheckAt: new Date(0) });
    put(`b-${name}`, 'clean');
    const failing = await domainIn('spfOnly');
    await probeDomain(deps(), failing.domain.id, 'sweep');
    put(failing.name, 'servfail');
    const regressing = await domainIn('spfOnly', 'completed');
    await probeDomain(deps(), regressing.domain.id, 'sweep');
    const gone = await domainIn('legacy');
    await t.db.update(domains).set({ archivedAt: new Date(), archivedBy: 'test' }).where(eq(domains.id, gone.domain.id));
    const auditBefore = await t.db.$count(auditLog, eq(auditLog.action, 'domain.verdict_changed'));

    const ids = [first.id, second.id, failing.domain.id, regressing.domain.id, gone.domain.id];
    const summaries = await probeDomains(deps(), ids, 'sweep');

    expect([...summaries.keys()].sort()).toEqual(ids.slice(0, 4).sort());
    expect(summaries.get(first.id)).toMatchObject({ verdict: 'clean', verdictChanged: true, customerMovedTo: 'completed' });
    expect(summaries.get(second.id)).toMatchObject({ verdict: 'clean', verdictChanged: true, customerMovedTo: 'completed' });
    expect(summaries.get(failing.domain.id)).toMatchObject({ outcome: 'error', verdict: 'unknown', verdictChanged: false });
    expect(summaries.get(regressing.domain.id)).toMatchObject({ verdict: 'needs_spf_cleanup', verdictChanged: false, tasksCreated: ['regression'] });
    const checkIds = [...summaries.values()].map((s) => s.checkId);
    expect(new Set(checkIds).size).toBe(4);
    for (const [id, s] of summaries) {
      const [row] = await t.db.select().from(dnsChecks).where(eq(dnsChecks.id, s.checkId));
      expect(row!.domainId).toBe(id);
    }
    expect(await domainRow(first.id)).toMatchObject({ latestVerdict: 'clean', latestMxState: 'successor', lastCheckedAt: clock, consecutiveFailures: 0 });
    expect(await domainRow(failing.domain.id)).toMatchObject({ latestVerdict: 'needs_spf_cleanup', consecutiveFailures: 1, lastCheckedAt: clock });
    expect((await domainRow(failing.domain.id)).nextCheckAt.getTime() - clock.getTime()).toBe(5 * 60_000);
    const events = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, customer.id));
    expect(events.map((e) => [e.fromStatus, e.toStatus])).toEqual([['migrated', 'completed']]);
    expect(events[0]!.note).toMatch(new RegExp(`checks (${summaries.get(first.id)!.checkId}|${summaries.get(second.id)!.checkId}), \\d+`));
    expect(await t.db.$count(auditLog, eq(auditLog.action, 'domain.verdict_changed'))).toBe(auditBefore + 2);
  });

  it('writes nothing when a statement of the batch fails', async () => {
    const a = await domainIn('legacy');
    const b = await domainIn('legacy');
    // A check constraint on one domain's row makes the batch's UPDATE fail for both.
    await t.db.execute(sql.raw(`ALTER TABLE domains ADD CONSTRAINT batch_test_guard CHECK (id <> '${b.domain.id}' OR latest_verdict IS NULL)`));
    try {
      await expect(probeDomains(deps(), [a.domain.id, b.domain.id], 'sweep')).rejects.toThrow();
    } finally {
      await t.db.execute(sql`ALTER TABLE domains DROP CONSTRAINT batch_test_guard`);
    }
    for (const { domain } of [a, b]) {
      expect(await t.db.$count(dnsChecks, eq(dnsChecks.domainId, domain.id))).toBe(0);
      expect((await domainRow(domain.id)).latestVerdict).toBeNull();
    }
  });
});

describe('evidence retention', () => {
  it('keeps every check that changed the verdict and the last 30 others', async () => {
    const { domain, name } = await domainIn('legacy');
    await probeDomain(deps(), domain.id, 'sweep');
    put(name, 'spfOnly');
    await probeDomain(deps(), domain.id, 'sweep');
    for (let i = 0; i < KEEP_CHECKS + 5; i++) await probeDomain(deps(), domain.id, 'sweep');
    const kept = await t.db.select().from(dnsChecks).where(eq(dnsChecks.domainId, domain.id));
    // The two changes, plus the last 30 (here all later than the changes).
    expect(kept.filter((c) => c.verdictChanged)).toHaveLength(2);
    expect(kept).toHaveLength(KEEP_CHECKS + 2);
  });
});

describe('sweeps', () => {
  it('probe each due domain once even when two sweeps overlap', async () => {
    const p = await makeProgram(t.db, { legacySpfIncludes: ['spf.po.2iij.net'] });
    const made = await Promise.all(Array.from({ length: 12 }, () => domainIn('legacy', 'contacted', p.id)));
    const runtime = new InlineJobRuntime({ db: t.db, now: () => clock, log, dns }, { concurrency: 4, schedules: [] });
    const jobDeps = { db: t.db, now: () => clock, log, dns, enqueue: runtime.enqueue.bind(runtime) };
    const ctx = { jobId: 'x', attemptsMade: 0, deps: jobDeps };
    const [a, b] = await Promise.all([
      sweepDomains({ limit: 100, programId: p.id, batchSize: 5, trigger: 'sweep' }, ctx),
      sweepDomains({ limit: 100, programId: p.id, batchSize: 5, trigger: 'sweep' }, ctx),
    ]);
    expect((a as { enqueued: number }).enqueued + (b as { enqueued: number }).enqueued).toBe(12);
    await runtime.close();
    for (const { domain } of made) expect(await t.db.$count(dnsChecks, eq(dnsChecks.domainId, domain.id))).toBe(1);
  });

  it('probe each due domain once when two sweeps overlap on BullMQ workers', async () => {
    const p = await makeProgram(t.db, { legacySpfIncludes: ['spf.po.2iij.net'] });
    const made = await Promise.all(Array.from({ length: 12 }, () => domainIn('legacy', 'contacted', p.id)));
    const prefix = `mdt-test-${randomBytes(4).toString('hex')}`;
    const bull = createBullRuntime({ redisUrl: TEST_REDIS_URL, prefix }, () => {});
    const workers = await startBullWorkers({ redisUrl: TEST_REDIS_URL, prefix, concurrency: 4, schedules: [] }, { db: t.db, now: () => clock, log, dns }, bull);
    try {
      await Promise.all([
        bull.enqueue('probes', 'sweep-domains', { limit: 100, programId: p.id, batchSize: 5 }, `sweep-a-${p.id}`),
        bull.enqueue('probes', 'sweep-domains', { limit: 100, programId: p.id, batchSize: 5 }, `sweep-b-${p.id}`),
      ]);
      await eventually(
        async () => (await Promise.all(made.map(({ domain }) => domainRow(domain.id)))).every((r) => r.latestVerdict !== null),
        15_000,
        'every domain checked',
      );
      await new Promise((r) => setTimeout(r, 500));
      for (const { domain } of made) expect(await t.db.$count(dnsChecks, eq(dnsChecks.domainId, domain.id))).toBe(1);
    } finally {
      await workers.close();
      for (const q of Object.values(bull.queues)) await q.obliterate({ force: true });
      await bull.close();
    }
  });

  it('run on BullMQ workers too: the sweep fans out, workers persist the verdicts', async () => {
    const p = await makeProgram(t.db, { legacySpfIncludes: ['spf.po.2iij.net'], legacyMxHostSuffixes: ['po.2iij.net'] });
    const made = await Promise.all(Array.from({ length: 5 }, () => domainIn('legacy', 'contacted', p.id)));
    const prefix = `mdt-test-${randomBytes(4).toString('hex')}`;
    const bull = createBullRuntime({ redisUrl: TEST_REDIS_URL, prefix }, () => {});
    const workers = await startBullWorkers({ redisUrl: TEST_REDIS_URL, prefix, concurrency: 4, schedules: [] }, { db: t.db, now: () => clock, log, dns }, bull);
    try {
      await bull.enqueue('probes', 'sweep-domains', { limit: 100, programId: p.id }, `sweep-${p.id}`);
      await eventually(
        async () => {
          const rows = await Promise.all(made.map(({ domain }) => domainRow(domain.id)));
          return rows.every((r) => r.latestVerdict === 'needs_mx_and_spf');
        },
        15_000,
        'the workers to persist every verdict',
      );
    } finally {
      await workers.close();
      for (const q of Object.values(bull.queues)) await q.obliterate({ force: true });
      await bull.close();
    }
  });
});

describe('on-demand checks', () => {
  it('queue a check (202), refuse a second within a minute (429 with Retry-After), and show the evidence', async () => {
    const call = apiClient(t.app);
    const { token } = await makeToken(t.db, 'sales', { salesOwnerId: owner.id });
    const { domain } = await domainIn('legacy');
    const first = await call('POST', `/v1/domains/${domain.id}/checks`, token);
    expect(first.statusCode).toBe(202);
    expect(first.json().jobId).toMatch(new RegExp(`^check-${domain.id}-od-`));
    const again = await call('POST', `/v1/domains/${domain.id}/checks`, token);
    expect(again.statusCode).toBe(429);
    expect(again.headers['retry-after']).toBe('60');
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    await eventually(async () => (await t.db.$count(dnsChecks, eq(dnsChecks.domainId, domain.id))) === 1, 10_000, 'the on-demand check');
    const history = await call('GET', `/v1/domains/${domain.id}/checks`, token);
    expect(history.json().items).toMatchObject([{ trigger: 'on_demand', verdict: 'needs_mx_and_spf', outcome: 'determined' }]);
    const shown = await call('GET', `/v1/domains/${domain.id}`, token);
    expect(shown.json()).toMatchObject({
      latestVerdict: 'needs_mx_and_spf',
      latestCheck: { result: { spf: { suggestedRecord: 'v=spf1 include:spf.gateway.example -all' } } },
    });
    clock = new Date(clock.getTime() + 61_000);
    expect((await call('POST', `/v1/domains/${domain.id}/checks`, token)).statusCode).toBe(202);
    const other = await makeSalesOwner(t.db);
    const stranger = (await makeToken(t.db, 'sales', { salesOwnerId: other.id })).token;
    expect((await call('POST', `/v1/domains/${domain.id}/checks`, stranger)).statusCode).toBe(404);
  });
});

describe('a sweep batch delivered more than once (a Redis cut, a stalled worker)', () => {
  const checksOf = (id: string) => t.db.$count(dnsChecks, eq(dnsChecks.domainId, id));

  it('records one check per domain for its claim, run again after it or at the same time', async () => {
    const claimedAt = clock;
    const again = [await domainIn('legacy'), await domainIn('clean')].map((d) => d.domain.id);
    expect((await probeDomains(deps(), again, 'sweep', claimedAt)).size).toBe(2);
    expect((await probeDomains(deps(), again, 'sweep', claimedAt)).size).toBe(0);
    for (const id of again) expect(await checksOf(id)).toBe(1);

    const together = [await domainIn('legacy'), await domainIn('spfOnly'), await domainIn('clean')].map((d) => d.domain.id);
    const [a, b] = await Promise.all([probeDomains(deps(), together, 'sweep', claimedAt), probeDomains(deps(), together, 'sweep', claimedAt)]);
    expect(a!.size + b!.size).toBe(3);
    for (const id of together) expect(await checksOf(id)).toBe(1);
  });

  it('a check asked for by hand (no claim) is recorded whenever it runs', async () => {
    const { domain } = await domainIn('legacy');
    await probeDomains(deps(), [domain.id], 'sweep', clock);
    await probeDomains(deps(), [domain.id], 'on_demand');
    expect(await checksOf(domain.id)).toBe(2);
  });
});
