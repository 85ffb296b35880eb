import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import type pg from 'pg';
import type { Database } from './client.ts';
import { grantServiceRole, roleOf } from './roles.ts';

export const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Any constant works; it only has to be the same in every process that migrates this database. */
const MIGRATION_LOCK_KEY = 7_208_9989;

/**
 * Applies the committed migrations. On PostgreSQL it holds a session advisory lock on a dedicated
 * connection, so several processes starting at once migrate one after another, not over each other.
 */
export async function migrateDatabase(database: Database, options: { serviceUrl?: string | undefined } = {}): Promise<void> {
  if (database.client instanceof PGlite) {
    await migratePglite(drizzlePglite({ client: database.client }), { migrationsFolder });
    return;
  }
  const conn = await (database.client as pg.Pool).connect();
  try {
    await conn.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    // A backfill may run longer than the pool's statement timeout allows a request.
    await conn.query('SET statement_timeout = 0');
    try {
      await migratePg(drizzlePg({ client: conn }), { migrationsFolder });
      // The service's own role, when it is not this one (see db/roles.ts), under the same lock.
      if (options.serviceUrl && roleOf(options.serviceUrl) !== (await conn.query<{ r: string }>('SELECT current_user AS r')).rows[0]!.r) {
        await grantServiceRole(conn, options.serviceUrl);
      }
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      await conn.query('RESET statement_timeout');
    }
  } finally {
    conn.release();
  }
}
