import { sql } from 'drizzle-orm';
import { bigint, check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { customers } from './customers.ts';
import { customerStatuses, sqlList } from './enums.ts';

export const statusEvents = pgTable(
  'status_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    fromStatus: text('from_status', { enum: customerStatuses }),
    toStatus: text('to_status', { enum: customerStatuses }).notNull(),
    actor: text('actor').notNull(),
    note: text('note'),
    overrideReason: text('override_reason'),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    index('status_events_customer_at_idx').on(t.customerId, t.at),
    index('status_events_at_idx').on(t.at),
    check('status_events_to_valid', sql.raw(`to_status IN ${sqlList(customerStatuses)}`)),
    check('status_events_from_valid', sql.raw(`from_status IS NULL OR from_status IN ${sqlList(customerStatuses)}`)),
  ],
);
