import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { timestamps, version } from './columns.ts';
import { contactLanguages, contactRoles, sqlList } from './enums.ts';
import { customers } from './customers.ts';

/**
 * The people at a customer whom the team talks to: the technical contact who edits the DNS, the
 * business one who decides. Their email and phone are personal data: shown to whoever may see the
 * customer; in the customer CSV, the email for admins only.
 */
export const customerContacts = pgTable(
  'customer_contacts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    email: text('email'),
    phone: text('phone'),
    role: text('role', { enum: contactRoles }).notNull(),
    /** The language notices to this person are written in. */
    language: text('language', { enum: contactLanguages }).notNull().default('ja'),
    ...version,
    ...timestamps,
  },
  (t) => [
    index('customer_contacts_customer_idx').on(t.customerId),
    check('customer_contacts_role_check', sql.raw(`role IN ${sqlList(contactRoles)}`)),
    check('customer_contacts_language_check', sql.raw(`language IN ${sqlList(contactLanguages)}`)),
    check('customer_contacts_reachable_check', sql`email IS NOT NULL OR phone IS NOT NULL`),
  ],
);
