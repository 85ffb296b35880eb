import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { customerContacts } from './customer-contacts.ts';
import { customers } from './customers.ts';
import { contactEventKinds, sqlList } from './enums.ts';

/** The contact log: each call, email, meeting or note with a customer, who logged it and when it happened. */
export const contactEvents = pgTable(
  'contact_events',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'restrict' }),
    /** Whom it was with, if one of the customer's contacts (kept as null once that contact is removed). */
    contactId: uuid('contact_id').references(() => customerContacts.id, { onDelete: 'set null' }),
    kind: text('kind', { enum: contactEventKinds }).notNull(),
    summary: text('summary').notNull(),
    actor: text('actor').notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('contact_events_customer_at_idx').on(t.customerId, t.at), check('contact_events_kind_check', sql.raw(`kind IN ${sqlList(contactEventKinds)}`))],
);
