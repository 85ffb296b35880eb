import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { salesOwners } from './sales-owners.ts';

/**
 * The notification log: every digest and escalation event, written when it happens and delivered to
 * the configured webhook by a job, retried with backoff. Without a webhook a row is only logged.
 */
export const notifications = pgTable(
  'notifications',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    kind: text('kind', { enum: ['digest', 'task_escalated'] }).notNull(),
    recipientId: uuid('recipient_id').references(() => salesOwners.id, { onDelete: 'set null' }),
    /** One notification per event: `digest:<owner>:<date>`, `task_escalated:<task>`. */
    dedupeKey: text('dedupe_key').notNull().unique('notifications_dedupe_key_key'),
    payload: jsonb('payload').notNull(),
    status: text('status', { enum: ['pending', 'delivered', 'logged', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull(),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    index('notifications_pending_idx')
      .on(t.nextAttemptAt)
      .where(sql`${t.status} = 'pending'`),
    index('notifications_recipient_idx').on(t.recipientId, t.createdAt),
    check('notifications_kind_valid', sql`${t.kind} IN ('digest', 'task_escalated')`),
    check('notifications_status_valid', sql`${t.status} IN ('pending', 'delivered', 'logged', 'failed')`),
  ],
);
