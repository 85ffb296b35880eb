import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type Database } from '../../db/client.ts';
import { databaseUrl, TEST_PG_ADMIN_URL } from './env.ts';

/** A fresh database for one test file, cloned from the migrated template. Dropped by `drop()`. */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const template = inject('templateDatabase');
  const name = `${template}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  return {
    url: databaseUrl(name),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A test database, opened. */
export async function openTestDatabase(): Promise<Database & { url: string; drop: () => Promise<void> }> {
  const created = await createTestDatabase();
  const database = await openDatabase({ databaseUrl: created.url, dataDir: '' });
  return {
    ...database,
    url: created.url,
    drop: async () => {
      await database.close();
      await created.drop();
    },
  };
}
