import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { apiTokens } from './api-tokens.ts';

/**
 * Dashboard sign-ins. The cookie holds a random secret; only its SHA-256 is stored, so neither a copy
 * of this table nor the cookie gives anyone an API token. A session ends at sign-out, by an admin, when
 * its token is revoked, 8 hours after it began, or after an hour without a request.
 */
export const dashboardSessions = pgTable(
  'dashboard_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tokenId: uuid('token_id')
      .notNull()
      .references(() => apiTokens.id, { onDelete: 'restrict' }),
    /** Lower-case hex SHA-256 of the cookie's secret. */
    secretHash: text('secret_hash').notNull().unique('dashboard_sessions_secret_hash_key'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true, mode: 'date' }).notNull(),
    /** The absolute end: created_at + 8 h. */
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    endedAt: timestamp('ended_at', { withTimezone: true, mode: 'date' }),
    /** `signed out`, `revoked by …`, `token revoked`. */
    endReason: text('end_reason'),
    userAgent: text('user_agent'),
  },
  (t) => [index('dashboard_sessions_token_idx').on(t.tokenId), index('dashboard_sessions_created_at_idx').on(t.createdAt)],
);
