import { sql } from 'drizzle-orm';
import { boolean, check, index, pgTable, text, uniqueIndex, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core';
import { timestamps, version } from './columns.ts';

export const salesOwners = pgTable(
  'sales_owners',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    email: text('email').notNull(),
    department: text('department').notNull(),
    managerId: uuid('manager_id').references((): AnyPgColumn => salesOwners.id, { onDelete: 'restrict' }),
    active: boolean('active').notNull().default(true),
    ...version,
    ...timestamps,
  },
  (t) => [
    uniqueIndex('sales_owners_email_lower_key').on(sql`lower(${t.email})`),
    index('sales_owners_department_idx').on(t.department),
    index('sales_owners_manager_idx').on(t.managerId),
    check('sales_owners_not_own_manager', sql`${t.managerId} IS DISTINCT FROM ${t.id}`),
  ],
);
