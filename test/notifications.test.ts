import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifications, tasks } from '../db/schema/index.ts';
import { loadConfig } from '../src/config.ts';
import { createDigests, deliverNotifications } from '../src/notifications/notification-service.ts';
import { escalateTasks } from '../src/tasks/task-service.ts';
import { buildTestApp, testLogger, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeProgram, makeSalesOwner } from './helpers/factories.ts';

const SECRET = 'a-test-secret-of-some-length';
let t: TestApp;
let webhook: http.Server;
let url: string;
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
let failNext = 0;
const log = testLogger();

beforeAll(async () => {
  t = await buildTestApp();
  webhook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(failNext-- > 0 ? 500 : 204).end();
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await new Promise((r) => webhook.close(r));
  await t.close();
});

/** An owner with a manager and one open task due `dueAt`. */
async function overdueTask(dueAt: Date) {
  const manager = await makeSalesOwner(t.db);
  const owner = await makeSalesOwner(t.db, { managerId: manager.id });
  const program = await makeProgram(t.db);
  const customer = await makeCustomer(t.db, program.id, owner.id);
  const [task] = await t.db
    .insert(tasks)
    .values({
      programId: program.id,
      customerId: customer.id,
      assigneeId: owner.id,
      kind: 'reminder',
      milestone: 'T-30',
      dedupeKey: `r:${customer.id}`,
      title: 'Call them',
      dueAt,
    })
    .returning();
  return { manager, owner, program, task: task! };
}

/**
 * A receiver as the Standard Webhooks spec has it (and as README.md's snippet does): the signature over
 * id.timestamp.body, the timestamp within 5 minutes of its clock, an id seen once.
 */
function verifyStandardWebhook(headers: http.IncomingHttpHeaders, body: string, secret: string, nowS: number, seen: Set<string>): string {
  const id = String(headers['webhook-id']);
  const timestamp = String(headers['webhook-timestamp']);
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  const sent = String(headers['webhook-signature']).split(' ');
  const matches = (s: string) => s.startsWith('v1,') && s.length - 3 === expected.length && timingSafeEqual(Buffer.from(s.slice(3)), Buffer.from(expected));
  if (!sent.some(matches)) return 'bad signature';
  if (Math.abs(nowS - Number(timestamp)) > 300) return 'timestamp too far from now';
  if (seen.has(id)) return 'already seen';
  seen.add(id);
  return 'ok';
}

describe('notifications', () => {
  it('sign every delivery the Standard Webhooks way, so a captured one cannot be replayed', async () => {
    for (const secret of [SECRET, `whsec_${Buffer.from('a key of random bytes, base64ed').toString('base64')}`]) {
      const now = new Date('2026-03-10T00:00:00Z');
      const { program } = await overdueTask(new Date('2026-03-01T00:00:00Z'));
      await escalateTasks(t.db, now, program.id);
      const before = received.length;
      await deliverNotifications(t.db, now, { url, secret }, log);
      const delivery = received.slice(before).at(-1)!;
      const seen = new Set<string>();
      const clock = Math.floor(Date.now() / 1000);
      expect(delivery.headers['webhook-id']).toBe(`ntf_${delivery.headers['x-mdt-delivery']}`);
      expect(verifyStandardWebhook(delivery.headers, delivery.body, secret, clock, seen)).toBe('ok');
      // The attack: the same delivery sent again at once, later as it is, later with a fresh timestamp, or with another body.
      expect(verifyStandardWebhook(delivery.headers, delivery.body, secret, clock, seen)).toBe('already seen');
      expect(verifyStandardWebhook(delivery.headers, delivery.body, secret, clock + 600, new Set())).toBe('timestamp too far from now');
      const refreshed = { ...delivery.headers, 'webhook-timestamp': String(clock + 600) };
      expect(verifyStandardWebhook(refreshed, delivery.body, secret, clock + 600, new Set())).toBe('bad signature');
      expect(verifyStandardWebhook(delivery.headers, delivery.body.replace('task_escalated', 'digest'), secret, clock, new Set())).toBe('bad signature');
    }
  });

  it('record an event with each escalation and deliver it signed with HMAC-SHA256', async () => {
    const now = new Date('2026-03-10T00:00:00Z');
    const { program, manager, task } = await overdueTask(new Date('2026-03-01T00:00:00Z'));
    expect((await escalateTasks(t.db, now, program.id)).escalated).toBe(1);
    const [n] = await t.db
      .select()
      .from(notifications)
      .where(eq(notifications.dedupeKey, `task_escalated:${(await t.db.select().from(tasks).where(eq(tasks.escalatedFromId, task.id)))[0]!.id}`));
    expect(n).toMatchObject({ kind: 'task_escalated', recipientId: manager.id, status: 'pending' });

    const before = received.length;
    const counts = await deliverNotifications(t.db, now, { url, secret: SECRET }, log);
    expect(counts.delivered).toBeGreaterThanOrEqual(1);
    const delivery = received.slice(before).find((r) => r.headers['x-mdt-delivery'] === String(n!.id))!;
    expect(delivery.headers['x-mdt-event']).toBe('task_escalated');
    expect(delivery.headers['x-mdt-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(delivery.body).digest('hex')}`);
    expect(JSON.parse(delivery.body)).toMatchObject({ id: n!.id, kind: 'task_escalated', task: { id: task.id, title: 'Call them' } });
    expect((await t.db.select().from(notifications).where(eq(notifications.id, n!.id)))[0]).toMatchObject({ status: 'delivered', attempts: 1 });
    // Delivered once: nothing is due any more.
    expect(await deliverNotifications(t.db, now, { url, secret: SECRET }, log)).toEqual({ delivered: 0, logged: 0, retrying: 0, failed: 0 });
  });

  it('retry a failed delivery with backoff, then deliver it', async () => {
    const now = new Date('2026-04-10T00:00:00Z');
    const { program } = await overdueTask(new Date('2026-04-01T00:00:00Z'));
    await escalateTasks(t.db, now, program.id);
    failNext = 1;
    expect((await deliverNotifications(t.db, now, { url, secret: SECRET }, log)).retrying).toBe(1);
    const [pending] = await t.db.select().from(notifications).where(eq(notifications.status, 'pending'));
    expect(pending).toMatchObject({ attempts: 1, lastError: 'HTTP 500' });
    expect(pending!.nextAttemptAt.getTime() - now.getTime()).toBe(60_000);
    expect((await deliverNotifications(t.db, new Date(now.getTime() + 30_000), { url, secret: SECRET }, log)).delivered).toBe(0);
    expect((await deliverNotifications(t.db, new Date(now.getTime() + 61_000), { url, secret: SECRET }, log)).delivered).toBe(1);
  });

  it('are only logged when no webhook is configured', async () => {
    const now = new Date('2026-05-10T00:00:00Z');
    const { program } = await overdueTask(new Date('2026-05-01T00:00:00Z'));
    await escalateTasks(t.db, now, program.id);
    const before = received.length;
    expect((await deliverNotifications(t.db, now, undefined, log)).logged).toBe(1);
    expect(received.length).toBe(before);
  });

  it('make one daily digest per owner with open tasks, counting the overdue ones', async () => {
    const now = new Date('2026-06-10T00:00:00Z');
    const { owner } = await overdueTask(new Date('2026-06-01T00:00:00Z'));
    const first = await createDigests(t.db, now, 'Asia/Tokyo');
    expect(first.created).toBeGreaterThanOrEqual(1);
    expect((await createDigests(t.db, now, 'Asia/Tokyo')).created).toBe(0);
    const [digest] = await t.db
      .select()
      .from(notifications)
      .where(eq(notifications.dedupeKey, `digest:${owner.id}:2026-06-10`));
    expect(digest!.payload).toMatchObject({
      event: 'digest',
      date: '2026-06-10',
      open: 1,
      overdue: 1,
      owner: { id: owner.id },
      tasks: [{ title: 'Call them' }],
    });
  });

  it('require a signing secret when a webhook is configured', () => {
    expect(() => loadConfig({ NOTIFY_WEBHOOK_URL: 'https://hooks.example/x' })).toThrow(/NOTIFY_WEBHOOK_SECRET: is required/);
  });
});
