import { sql } from 'drizzle-orm';
import { check, date, index, pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { timestamps, version } from './columns.ts';
import { customerStatuses, sqlList } from './enums.ts';
import { programs } from './programs.ts';
import { salesOwners } from './sales-owners.ts';

export const customers = pgTable(
  'customers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'restrict' }),
    externalRef: text('external_ref').notNull(),
    name: text('name').notNull(),
    salesOwnerId: uuid('sales_owner_id')
      .notNull()
      .references(() => salesOwners.id, { onDelete: 'restrict' }),
    status: text('status', { enum: customerStatuses }).notNull().default('not_contacted'),
    /** The status an `on_hold` customer returns to. */
    statusBeforeHold: text('status_before_hold', { enum: customerStatuses }),
    plannedMigrationAt: date('planned_migration_at', { mode: 'string' }),
    successorAccountRef: text('successor_account_ref'),
    notes: text('notes'),
    /**
     * When the customer first left the backlog (migrated, completed, declined or cancelled), from
     * its status events; kept by a trigger on status_events, for the burndown.
     */
    resolvedAt: timestamp('resolved_at', { withTimezone: true, mode: 'date' }),
    ...version,
    ...timestamps,
  },
  (t) => [
    unique('customers_program_external_ref_key').on(t.programId, t.externalRef),
    // Target of the composite foreign key that keeps a domain in its customer's program.
    unique('customers_id_program_key').on(t.id, t.programId),
    index('customers_program_status_idx').on(t.programId, t.status),
    index('customers_sales_owner_idx').on(t.salesOwnerId),
    index('customers_program_name_idx').on(t.programId, t.name, t.id),
    index('customers_updated_at_idx').on(t.updatedAt, t.id),
    index('customers_planned_migration_idx').on(t.plannedMigrationAt, t.id),
    check('customers_status_valid', sql.raw(`status IN ${sqlList(customerStatuses)}`)),
    check('customers_status_before_hold_valid', sql.raw(`status_before_hold IS NULL OR status_before_hold IN ${sqlList(customerStatuses)}`)),
  ],
);
