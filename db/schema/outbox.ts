import { bigint, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';

/**
 * Jobs written in the same transaction as the change that causes them, and handed to the job runner
 * after commit by the relay. Nothing is lost when Redis is down: the row waits until it can be delivered.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    queue: text('queue').notNull(),
    jobName: text('job_name').notNull(),
    /** Deterministic job id: a duplicate delivery is ignored by the queue. */
    jobId: text('job_id').notNull(),
    payload: jsonb('payload').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    availableAt: timestamp('available_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    dispatchedAt: timestamp('dispatched_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    index('outbox_pending_idx')
      .on(t.availableAt, t.id)
      .where(sql`${t.dispatchedAt} IS NULL`),
    index('outbox_dispatched_idx')
      .on(t.dispatchedAt)
      .where(sql`${t.dispatchedAt} IS NOT NULL`),
  ],
);
