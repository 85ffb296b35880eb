import { sql } from 'drizzle-orm';
import { check, index, jsonb, pgTable, text, timestamp, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core';
import { timestamps } from './columns.ts';
import { customers } from './customers.ts';
import { domains } from './domains.ts';
import { sqlList, taskKinds, taskStatuses } from './enums.ts';
import { programs } from './programs.ts';
import { salesOwners } from './sales-owners.ts';

/** A reminder or escalation assigned to a sales owner or manager. */
export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'restrict' }),
    customerId: uuid('customer_id').references(() => customers.id, { onDelete: 'cascade' }),
    domainId: uuid('domain_id').references(() => domains.id, { onDelete: 'restrict' }),
    assigneeId: uuid('assignee_id')
      .notNull()
      .references(() => salesOwners.id, { onDelete: 'restrict' }),
    kind: text('kind', { enum: taskKinds }).notNull(),
    /** What the task is about, e.g. `T-30` for a reminder; part of the dedupe key. */
    milestone: text('milestone').notNull(),
    /** Unique per (customer, kind, milestone) so re-runs and duplicated jobs create nothing. */
    dedupeKey: text('dedupe_key').notNull().unique('tasks_dedupe_key_key'),
    escalatedFromId: uuid('escalated_from_id').references((): AnyPgColumn => tasks.id, { onDelete: 'cascade' }),
    status: text('status', { enum: taskStatuses }).notNull().default('open'),
    title: text('title').notNull(),
    details: jsonb('details')
      .notNull()
      .default(sql`'{}'::jsonb`),
    dueAt: timestamp('due_at', { withTimezone: true, mode: 'date' }).notNull(),
    snoozedUntil: timestamp('snoozed_until', { withTimezone: true, mode: 'date' }),
    closedAt: timestamp('closed_at', { withTimezone: true, mode: 'date' }),
    closeReason: text('close_reason'),
    ...timestamps,
  },
  (t) => [
    index('tasks_assignee_status_idx').on(t.assigneeId, t.status, t.dueAt),
    index('tasks_program_status_due_idx').on(t.programId, t.status, t.dueAt),
    index('tasks_customer_idx').on(t.customerId),
    index('tasks_escalated_from_idx').on(t.escalatedFromId),
    // A check closes its domain's regression and unable-to-verify tasks; most tasks have no domain.
    index('tasks_domain_idx')
      .on(t.domainId)
      .where(sql`${t.domainId} IS NOT NULL`),
    check('tasks_kind_valid', sql.raw(`kind IN ${sqlList(taskKinds)}`)),
    check('tasks_status_valid', sql.raw(`status IN ${sqlList(taskStatuses)}`)),
    check('tasks_closed_consistent', sql`(${t.status} = 'open') = (${t.closedAt} IS NULL)`),
  ],
);
