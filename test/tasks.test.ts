import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { auditLog, domains, programs, salesOwners, tasks } from '../db/schema/index.ts';
import { createBullRuntime, startBullWorkers } from '../jobs/bullmq.ts';
import { createResolver } from '../src/dns/resolver.ts';
import { createReminders, escalateTasks } from '../src/tasks/task-service.ts';
import { apiClient } from './helpers/api.ts';
import { buildTestApp, eventually, testLogger, type TestApp } from './helpers/build-test-app.ts';
import { TEST_REDIS_URL } from './helpers/env.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

let t: TestApp;
let clock = new Date('2022-08-31T15:00:00Z'); // 2022-09-01 00:00 in Tokyo: 29 days before the shutdown
let call: ReturnType<typeof apiClient>;
beforeAll(async () => {
  t = await buildTestApp({ now: () => clock });
  call = apiClient(t.app);
});
afterAll(() => t.close());

async function setup() {
  const boss = await makeSalesOwner(t.db, { department: 'D1' });
  const owner = await makeSalesOwner(t.db, { department: 'D1', managerId: boss.id });
  const orphan = await makeSalesOwner(t.db, { department: 'D1' });
  const contact = await makeSalesOwner(t.db, { department: 'D1' });
  const program = await makeProgram(t.db, {
    shutdownAt: '2022-09-30',
    spfRecordDeletionAt: '2022-12-31',
    timezone: 'Asia/Tokyo',
    reminderOffsetsDays: [-90, -60, -30, -14, -7, -1],
    escalationContactId: contact.id,
  });
  const open1 = await makeCustomer(t.db, program.id, owner.id, { status: 'contacted', name: 'Open One' });
  await makeDomain(t.db, open1, { latestVerdict: 'needs_spf_cleanup' });
  const open2 = await makeCustomer(t.db, program.id, orphan.id, { status: 'planned', name: 'Open Two' });
  const done = await makeCustomer(t.db, program.id, owner.id, { status: 'completed' });
  const gone = await makeCustomer(t.db, program.id, owner.id, { status: 'declined' });
  return { boss, owner, orphan, contact, program, open1, open2, done, gone };
}
const tasksOfProgram = (programId: string) => t.db.select().from(tasks).where(eq(tasks.programId, programId));

describe('reminders', () => {
  it('give every open customer one T-30 task by the program\u2019s calendar, and a re-run creates none', async () => {
    const s = await setup();
    expect(await createReminders(t.db, clock, s.program.id)).toEqual({ created: 2, closed: 0 });
    const rows = await tasksOfProgram(s.program.id);
    expect(rows.map((r) => [r.customerId, r.kind, r.milestone, r.assigneeId]).sort()).toEqual(
      [
        [s.open1.id, 'reminder', 'T-30', s.owner.id],
        [s.open2.id, 'reminder', 'T-30', s.orphan.id],
      ].sort(),
    );
    const one = rows.find((r) => r.customerId === s.open1.id)!;
    // Due at the next milestone (T-14), midnight in Tokyo.
    expect(one.dueAt.toISOString()).toBe('2022-09-15T15:00:00.000Z');
    expect(one.details).toMatchObject({ milestone: 'T-30', daysLeft: 29, status: 'contacted', domainsNeedingAction: [{ verdict: 'needs_spf_cleanup' }] });
    expect(await createReminders(t.db, clock, s.program.id)).toEqual({ created: 0, closed: 0 });
  });

  it('use the program\u2019s time zone for the day boundary', async () => {
    const s = await setup();
    // 23:59 on 2022-08-31 in Tokyo is 31 days before the shutdown: still the T-60 milestone.
    await createReminders(t.db, new Date('2022-08-30T14:59:00Z'), s.program.id);
    expect((await tasksOfProgram(s.program.id)).map((r) => r.milestone)).toEqual(['T-60', 'T-60']);
    await createReminders(t.db, new Date('2022-08-30T15:00:00Z'), s.program.id);
    expect((await tasksOfProgram(s.program.id)).filter((r) => r.milestone === 'T-30')).toHaveLength(2);
  });

  it('close the T-60 reminder of a customer, superseded, when its T-30 one opens', async () => {
    const s = await setup();
    await createReminders(t.db, new Date('2022-08-30T14:59:00Z'), s.program.id);
    const [t60] = await t.db
      .select()
      .from(tasks)
      .where(and(eq(tasks.customerId, s.open1.id), eq(tasks.milestone, 'T-60')));
    await createReminders(t.db, new Date('2022-08-30T15:00:00Z'), s.program.id);
    const rows = await tasksOfProgram(s.program.id);
    const of = (customerId: string, milestone: string) => rows.find((r) => r.customerId === customerId && r.milestone === milestone)!;
    expect(of(s.open1.id, 'T-60')).toMatchObject({ id: t60!.id, status: 'closed', closeReason: 'superseded by T-30' });
    expect(of(s.open2.id, 'T-60')).toMatchObject({ status: 'closed', closeReason: 'superseded by T-30' });
    expect(of(s.open1.id, 'T-30')).toMatchObject({ status: 'open', closedAt: null });
    // A re-run has nothing left to close.
    expect(await createReminders(t.db, new Date('2022-08-30T16:00:00Z'), s.program.id)).toEqual({ created: 0, closed: 0 });
  });

  it('close when the customer is completed through the workflow', async () => {
    const s = await setup();
    await createReminders(t.db, clock, s.program.id);
    const { token } = await makeToken(t.db, 'manager', { department: 'D1' });
    await t.db.update(domains).set({ latestVerdict: 'clean' }).where(eq(domains.customerId, s.open1.id));
    await t.db.execute(`UPDATE customers SET status = 'migrated' WHERE id = '${s.open1.id}'`);
    const res = await call('POST', `/v1/customers/${s.open1.id}/transitions`, token, { to: 'completed' }, { 'if-match': '"1"' });
    expect(res.statusCode).toBe(200);
    const [task] = await t.db.select().from(tasks).where(eq(tasks.customerId, s.open1.id));
    expect(task).toMatchObject({ status: 'closed', closeReason: 'customer completed' });
  });

  it('after the shutdown, give weekly clean-up tasks to customers still referencing the legacy include, until they are clean', async () => {
    const s = await setup();
    const after = new Date('2022-10-02T00:00:00Z'); // 2022-10-02 09:00 Tokyo, week 1 after the shutdown
    expect((await createReminders(t.db, after, s.program.id)).created).toBe(1);
    const [w1] = await tasksOfProgram(s.program.id);
    expect(w1).toMatchObject({ kind: 'spf_cleanup', milestone: 'W1', customerId: s.open1.id });
    expect((await createReminders(t.db, after, s.program.id)).created).toBe(0);
    // The next week's task supersedes the last one: one current clean-up ask per customer.
    expect(await createReminders(t.db, new Date('2022-10-09T00:00:00Z'), s.program.id)).toEqual({ created: 1, closed: 1 });
    expect((await tasksOfProgram(s.program.id)).map((r) => [r.milestone, r.status, r.closeReason]).sort()).toEqual([
      ['W1', 'closed', 'superseded by W2'],
      ['W2', 'open', null],
    ]);
    await t.db.update(domains).set({ latestVerdict: 'clean' }).where(eq(domains.customerId, s.open1.id));
    expect((await createReminders(t.db, new Date('2022-10-10T00:00:00Z'), s.program.id)).closed).toBe(1);
    expect((await createReminders(t.db, new Date('2023-01-05T00:00:00Z'), s.program.id)).created).toBe(0);
  });
});

describe('escalation', () => {
  it('escalates an overdue task once, to the manager or else the program contact; snoozed tasks wait', async () => {
    const s = await setup();
    await createReminders(t.db, clock, s.program.id);
    const dueAt = new Date('2022-09-15T15:00:00Z');
    expect((await escalateTasks(t.db, new Date(dueAt.getTime() + 2 * 86_400_000), s.program.id)).escalated).toBe(0);
    const late = new Date(dueAt.getTime() + 3 * 86_400_000 + 1000);
    expect(await escalateTasks(t.db, late, s.program.id)).toEqual({ escalated: 2, skipped: 0 });
    expect((await escalateTasks(t.db, late, s.program.id)).escalated).toBe(0);
    const escalations = await t.db
      .select()
      .from(tasks)
      .where(and(eq(tasks.programId, s.program.id), eq(tasks.kind, 'escalation')));
    expect(escalations.map((e) => e.assigneeId).sort()).toEqual([s.boss.id, s.contact.id].sort());

    const other = await setup();
    await createReminders(t.db, clock, other.program.id);
    const [snoozed] = await t.db.select().from(tasks).where(eq(tasks.customerId, other.open1.id));
    const { token } = await makeToken(t.db, 'sales', { salesOwnerId: other.owner.id });
    const saved = clock;
    clock = new Date('2022-09-10T00:00:00Z');
    expect((await call('POST', `/v1/tasks/${snoozed!.id}/snooze`, token, { until: '2022-10-30T00:00:00Z' })).statusCode).toBe(200);
    clock = saved;
    expect((await escalateTasks(t.db, late, other.program.id)).escalated).toBe(1);
  });

  it('reaches the manager whose token is bound to their own record: assignee=me lists it, and the token still sees the department', async () => {
    const s = await setup();
    await createReminders(t.db, clock, s.program.id);
    const late = new Date('2022-09-20T00:00:00Z');
    await escalateTasks(t.db, late, s.program.id);
    const boss = (await makeToken(t.db, 'manager', { department: 'D1', salesOwnerId: s.boss.id })).token;
    const mine = (await call('GET', `/v1/tasks?assignee=me&programId=${s.program.id}`, boss)).json().items;
    expect(mine.map((x: { kind: string; customerId: string; assigneeId: string }) => [x.kind, x.customerId, x.assigneeId])).toEqual([
      ['escalation', s.open1.id, s.boss.id],
    ]);
    // "me" names the person; the scope is still the department (the owners' reminders, the contact's escalation).
    expect((await call('GET', `/v1/tasks?programId=${s.program.id}`, boss)).json().items).toHaveLength(4);
  });

  it('goes to the program contact when the manager is deactivated, and is skipped, with a warning an operator sees, when there is neither', async () => {
    const s = await setup();
    await createReminders(t.db, clock, s.program.id);
    await t.db.update(salesOwners).set({ active: false }).where(eq(salesOwners.id, s.boss.id));
    await t.db.update(programs).set({ escalationContactId: null }).where(eq(programs.id, s.program.id));
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const late = new Date('2022-09-20T00:00:00Z');
    expect(await escalateTasks(t.db, late, s.program.id, log)).toEqual({ escalated: 0, skipped: 2 });
    const [warning] = lines.map((l) => JSON.parse(l));
    expect(warning).toMatchObject({
      level: 40,
      event: 'escalation_skipped',
      skipped: 2,
      msg: expect.stringMatching(/not escalated: the owner has no active manager/),
    });
    expect(warning.tasks.map((x: { ownerId: string }) => x.ownerId).sort()).toEqual([s.owner.id, s.orphan.id].sort());

    await t.db.update(programs).set({ escalationContactId: s.contact.id }).where(eq(programs.id, s.program.id));
    expect(await escalateTasks(t.db, late, s.program.id, log)).toEqual({ escalated: 2, skipped: 0 });
    const escalations = await t.db
      .select()
      .from(tasks)
      .where(and(eq(tasks.programId, s.program.id), eq(tasks.kind, 'escalation')));
    expect(escalations.map((e) => e.assigneeId)).toEqual([s.contact.id, s.contact.id]);
    expect(lines).toHaveLength(1);
  });

  it('closes the escalation when the escalated task is completed', async () => {
    const s = await setup();
    await createReminders(t.db, clock, s.program.id);
    await escalateTasks(t.db, new Date('2022-09-20T00:00:00Z'), s.program.id);
    const [source] = await t.db
      .select()
      .from(tasks)
      .where(and(eq(tasks.customerId, s.open1.id), eq(tasks.kind, 'reminder')));
    const { token } = await makeToken(t.db, 'sales', { salesOwnerId: s.owner.id });
    expect((await call('POST', `/v1/tasks/${source!.id}/complete`, token)).json()).toMatchObject({ status: 'completed' });
    const [escalation] = await t.db.select().from(tasks).where(eq(tasks.escalatedFromId, source!.id));
    expect(escalation).toMatchObject({ status: 'closed' });
  });
});

describe('the tasks API', () => {
  it('lists by due date within the token\u2019s scope, with assignee=me, status and overdue filters', async () => {
    const s = await setup();
    await createReminders(t.db, clock, s.program.id);
    const sales = (await makeToken(t.db, 'sales', { salesOwnerId: s.owner.id })).token;
    const manager = (await makeToken(t.db, 'manager', { department: 'D1' })).token;
    const mine = await call('GET', `/v1/tasks?assignee=me&programId=${s.program.id}`, sales);
    expect(mine.json().items.map((x: { customerId: string }) => x.customerId)).toEqual([s.open1.id]);
    const all = await call('GET', `/v1/tasks?programId=${s.program.id}`, sales);
    expect(all.json().items).toHaveLength(1);
    const dept = await call('GET', `/v1/tasks?programId=${s.program.id}&status=open`, manager);
    expect(dept.json().items).toHaveLength(2);
    expect((await call('GET', `/v1/tasks?programId=${s.program.id}&overdue=true`, manager)).json().items).toHaveLength(0);
    clock = new Date('2022-09-16T00:00:00Z');
    const overdue = await call('GET', `/v1/tasks?programId=${s.program.id}&overdue=true`, manager);
    expect(overdue.json().items.map((x: { overdue: boolean }) => x.overdue)).toEqual([true, true]);
    clock = new Date('2022-08-31T15:00:00Z');
    expect((await call('GET', '/v1/tasks?assignee=me', manager)).statusCode).toBe(400);
    expect((await call('GET', '/v1/tasks?status=done', manager)).json().errors[0].path).toMatch(/^query\.status/);
  });

  it('completes, dismisses with a reason and snoozes only open tasks the token can see', async () => {
    const s = await setup();
    await createReminders(t.db, clock, s.program.id);
    const [mine] = await t.db.select().from(tasks).where(eq(tasks.customerId, s.open1.id));
    const [theirs] = await t.db.select().from(tasks).where(eq(tasks.customerId, s.open2.id));
    const sales = (await makeToken(t.db, 'sales', { salesOwnerId: s.owner.id })).token;
    expect((await call('POST', `/v1/tasks/${theirs!.id}/complete`, sales)).statusCode).toBe(404);
    expect((await call('POST', `/v1/tasks/${mine!.id}/dismiss`, sales, {})).json().errors[0].path).toBe('body.reason');
    expect((await call('POST', `/v1/tasks/${mine!.id}/snooze`, sales, { until: '2022-08-01T00:00:00Z' })).json().errors[0].path).toBe('body.until');
    const until = new Date(clock.getTime() + 7 * 86_400_000).toISOString();
    expect((await call('POST', `/v1/tasks/${mine!.id}/snooze`, sales, { until, reason: '先方の返事待ち' })).json()).toMatchObject({ snoozedUntil: until });
    const [snoozeAudit] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityId, mine!.id), eq(auditLog.action, 'task.snooze')));
    expect(snoozeAudit!.after).toMatchObject({ snoozeReason: '先方の返事待ち', snoozedUntil: until });
    const dismissed = await call('POST', `/v1/tasks/${mine!.id}/dismiss`, sales, { reason: '解約予定' });
    expect(dismissed.json()).toMatchObject({ status: 'dismissed', closeReason: '解約予定' });
    expect((await call('POST', `/v1/tasks/${mine!.id}/complete`, sales)).statusCode).toBe(409);
  });
});

describe('reminders on BullMQ', () => {
  it('run through the queue with the same result', async () => {
    const s = await setup();
    const prefix = `mdt-test-${randomBytes(4).toString('hex')}`;
    const bull = createBullRuntime({ redisUrl: TEST_REDIS_URL, prefix }, () => {});
    const workers = await startBullWorkers(
      { redisUrl: TEST_REDIS_URL, prefix, concurrency: 2, schedules: [] },
      { db: t.db, now: () => clock, log: testLogger(), dns: createResolver() },
      bull,
    );
    try {
      await bull.enqueue('tasks', 'create-reminders', { programId: s.program.id }, `reminders-${s.program.id}`);
      await eventually(async () => (await tasksOfProgram(s.program.id)).length === 2, 10_000, 'the reminders');
    } finally {
      await workers.close();
      for (const q of Object.values(bull.queues)) await q.obliterate({ force: true });
      await bull.close();
    }
  });
});
