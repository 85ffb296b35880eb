import { createHmac } from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { rowsOf, type Db } from '../../db/client.ts';
import { notifications } from '../../db/schema/index.ts';
import { exponentialBackoff } from '../lib/backoff.ts';
import { localDate } from '../lib/calendar.ts';

export interface Webhook {
  url: string;
  secret: string;
}

const MAX_ATTEMPTS = 10;
const LEASE_MS = 5 * 60_000;
const backoffMs = (attempts: number) => exponentialBackoff(60_000, attempts - 1, 3_600_000);

/**
 * The legacy `x-mdt-signature`: `sha256=<hex>` over the body alone. A captured delivery can be replayed
 * with it, so it is kept only for receivers not yet moved to the Standard Webhooks headers; deprecated.
 */
export const signBody = (body: string, secret: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

/**
 * Standard Webhooks (standardwebhooks.com) headers: `webhook-id` (the same on every retry of one
 * message), `webhook-timestamp` (this attempt, Unix seconds) and `webhook-signature` = `v1,` + base64
 * HMAC-SHA256 over `id.timestamp.body`. A receiver rejects timestamps more than 5 minutes off its clock
 * and ids it has seen, so a captured delivery cannot be replayed. A secret in the standard's
 * `whsec_<base64>` form is used as those bytes (what its libraries expect); any other as its UTF-8.
 */
export function standardWebhookHeaders(id: string, at: Date, body: string, secret: string): Record<string, string> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}

/** One event per new escalation task, in the caller's transaction. */
export async function recordEscalations(db: Db, escalationIds: string[], now: Date) {
  if (escalationIds.length === 0) return;
  await db.execute(sql`
    INSERT INTO notifications (kind, recipient_id, dedupe_key, payload, next_attempt_at, created_at)
    SELECT 'task_escalated', e.assignee_id, 'task_escalated:' || e.id,
      jsonb_build_object('event', 'task_escalated', 'escalation', jsonb_build_object('id', e.id, 'title', e.title, 'assigneeId', e.assignee_id),
        'task', jsonb_build_object('id', t.id, 'title', t.title, 'kind', t.kind, 'dueAt', t.due_at, 'assigneeId', t.assignee_id, 'customerId', t.customer_id)),
      ${now}, ${now}
    FROM tasks e JOIN tasks t ON t.id = e.escalated_from_id
    WHERE e.id IN (${sql.join(
      escalationIds.map((id) => sql`${id}::uuid`),
      sql`, `,
    )})
    ON CONFLICT (dedupe_key) DO NOTHING`);
}

/** One digest per sales owner with open tasks, per day in `timeZone`: open and overdue tasks. */
export async function createDigests(db: Db, now: Date, timeZone: string) {
  const day = localDate(now, timeZone);
  const result = await db.execute(sql`
    INSERT INTO notifications (kind, recipient_id, dedupe_key, payload, next_attempt_at, created_at)
    SELECT 'digest', o.id, 'digest:' || o.id || ':' || ${day},
      jsonb_build_object('event', 'digest', 'date', ${day}::text,
        'owner', jsonb_build_object('id', o.id, 'name', o.name, 'email', o.email),
        'open', count(*), 'overdue', count(*) FILTER (WHERE t.due_at < ${now} AND (t.snoozed_until IS NULL OR t.snoozed_until <= ${now})),
        'tasks', jsonb_path_query_array(
          jsonb_agg(jsonb_build_object('id', t.id, 'title', t.title, 'kind', t.kind, 'dueAt', t.due_at) ORDER BY t.due_at), '$[0 to 49]')),
      ${now}, ${now}
    FROM tasks t JOIN sales_owners o ON o.id = t.assignee_id
    WHERE t.status = 'open' AND o.active
    GROUP BY o.id
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id`);
  return { created: rowsOf(result).length };
}

/**
 * Sends what is due: claims pending rows under a lease (so parallel deliverers never send one twice
 * at once), POSTs each signed, and marks it delivered, or retries with backoff, failing after 10.
 * Without a webhook the row is logged and marked so.
 */
export async function deliverNotifications(db: Db, now: Date, webhook: Webhook | undefined, log: FastifyBaseLogger, limit = 200) {
  const claimed = await db.transaction(async (tx) => {
    const due = tx
      .select({ id: notifications.id })
      .from(notifications)
      .where(and(eq(notifications.status, 'pending'), sql`${notifications.nextAttemptAt} <= ${now}`))
      .orderBy(notifications.nextAttemptAt)
      .limit(limit)
      .for('no key update', { skipLocked: true });
    return tx
      .update(notifications)
      .set({ nextAttemptAt: new Date(now.getTime() + LEASE_MS), attempts: sql`${notifications.attempts} + 1` })
      .where(inArray(notifications.id, due))
      .returning();
  });
  const counts = { delivered: 0, logged: 0, retrying: 0, failed: 0 };
  for (const n of claimed) {
    if (!webhook) {
      log.info({ notificationId: n.id, kind: n.kind, payload: n.payload }, 'notification (no webhook configured)');
      await db.update(notifications).set({ status: 'logged', deliveredAt: now }).where(eq(notifications.id, n.id));
      counts.logged++;
      continue;
    }
    const body = JSON.stringify({ id: n.id, kind: n.kind, createdAt: n.createdAt.toISOString(), ...(n.payload as object) });
    let error: string | undefined;
    try {
      const res = await fetch(webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          // The wall clock, not the injected one: the receiver compares the timestamp with its own clock.
          ...standardWebhookHeaders(`ntf_${n.id}`, new Date(), body, webhook.secret),
          'x-mdt-signature': signBody(body, webhook.secret),
          'x-mdt-delivery': String(n.id),
          'x-mdt-event': n.kind,
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) error = `HTTP ${res.status}`;
      await res.body?.cancel();
    } catch (err) {
      error = (err as Error).message;
    }
    if (error === undefined) {
      await db.update(notifications).set({ status: 'delivered', deliveredAt: now, lastError: null }).where(eq(notifications.id, n.id));
      counts.delivered++;
    } else if (n.attempts >= MAX_ATTEMPTS) {
      await db.update(notifications).set({ status: 'failed', lastError: error }).where(eq(notifications.id, n.id));
      log.warn({ notificationId: n.id, error }, 'notification failed for good');
      counts.failed++;
    } else {
      await db
        .update(notifications)
        .set({ lastError: error, nextAttemptAt: new Date(now.getTime() + backoffMs(n.attempts)) })
        .where(eq(notifications.id, n.id));
      counts.retrying++;
    }
  }
  return counts;
}
