import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { customers } from './customers.ts';

/**
 * Links a customer's DNS administrator opens without an account (`/check/{token}`) to see, per
 * domain, what to change and whether it is done. The URL holds a random token; only its SHA-256 is
 * stored. A link shows one customer's domains and nothing else, until it expires or is revoked.
 */
export const selfCheckLinks = pgTable(
  'self_check_links',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'restrict' }),
    /** Lower-case hex SHA-256 of the URL's token. */
    tokenHash: text('token_hash').notNull().unique('self_check_links_token_hash_key'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    createdBy: text('created_by').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    revokedBy: text('revoked_by'),
    lastOpenedAt: timestamp('last_opened_at', { withTimezone: true, mode: 'date' }),
    /** When the page's "check again now" ran, newest first, the last hour's at most (its rate limit). */
    recheckedAt: timestamp('rechecked_at', { withTimezone: true, mode: 'date' }).array().notNull().default([]),
  },
  (t) => [index('self_check_links_customer_idx').on(t.customerId)],
);
