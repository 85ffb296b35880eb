import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { roles, sqlList } from './enums.ts';
import { salesOwners } from './sales-owners.ts';

/** Bearer tokens. Only the SHA-256 of a token is stored; the token itself is shown once. */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    role: text('role', { enum: roles }).notNull(),
    salesOwnerId: uuid('sales_owner_id').references(() => salesOwners.id, { onDelete: 'restrict' }),
    department: text('department'),
    /** Lower-case hex SHA-256 of the token. */
    tokenHash: text('token_hash').notNull().unique('api_tokens_token_hash_key'),
    /** The first characters of the token, so people can tell their tokens apart in listings. */
    tokenPrefix: text('token_prefix').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    index('api_tokens_created_at_idx').on(t.createdAt),
    check('api_tokens_role_valid', sql.raw(`role IN ${sqlList(roles)}`)),
    check('api_tokens_hash_format', sql`${t.tokenHash} ~ '^[0-9a-f]{64}$'`),
    // A sales token is bound to its sales owner; a manager token to a department and, optionally, to
    // the manager's own sales-owner record (who "me" is); an admin token to neither.
    check(
      'api_tokens_role_binding',
      sql`(${t.role} = 'sales' AND ${t.salesOwnerId} IS NOT NULL AND ${t.department} IS NULL) OR (${t.role} = 'manager' AND ${t.department} IS NOT NULL) OR (${t.role} = 'admin' AND ${t.salesOwnerId} IS NULL AND ${t.department} IS NULL)`,
    ),
  ],
);
