import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, openMemoryDatabase, type Database } from '../db/client.ts';
import { migrateDatabase, migrationsFolder } from '../db/migrate.ts';
import { auditLog } from '../db/schema/index.ts';
import { createTestDatabase, openTestDatabase } from './helpers/database.ts';

const run = promisify(execFile);

describe('migrations', () => {
  it('match the drizzle schema: generating from the schema adds no migration', async () => {
    const root = path.resolve(import.meta.dirname, '..');
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-migrations-'));
    fs.cpSync(migrationsFolder, out, { recursive: true });
    const before = fs.readdirSync(out).sort();
    try {
      // drizzle-kit prefixes "./" to --out and exits 0 on errors, so pass a relative path and
      // require its positive answer rather than trusting the exit code.
      const { stdout, stderr } = await run(
        'npx',
        ['drizzle-kit', 'generate', '--dialect', 'postgresql', '--schema', './db/schema/index.ts', '--out', path.relative(root, out)],
        { cwd: root },
      );
      expect(`${stdout}${stderr}`).toContain('No schema changes, nothing to migrate');
      expect(fs.readdirSync(out).sort()).toEqual(before);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('run concurrently from several processes without conflict (advisory lock)', async () => {
    const { url, drop } = await createTestDatabaseEmpty();
    const handles: Database[] = [];
    try {
      for (let i = 0; i < 3; i++) handles.push(await openDatabase({ databaseUrl: url, dataDir: '' }));
      await Promise.all(handles.map((h) => migrateDatabase(h)));
      const result = await handles[0]!.db.execute(sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`);
      const journal = JSON.parse(fs.readFileSync(path.join(migrationsFolder, 'meta/_journal.json'), 'utf8'));
      expect((result as unknown as { rows: { n: number }[] }).rows[0]!.n).toBe(journal.entries.length);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
      await drop();
    }
  });

  it('store check evidence lz4-compressed on PostgreSQL (PGlite keeps pglz, see the next test)', async () => {
    const database = await openTestDatabase();
    try {
      const result = await database.db.execute(sql`SELECT attcompression FROM pg_attribute WHERE attrelid = 'dns_checks'::regclass AND attname = 'result'`);
      expect((result as unknown as { rows: { attcompression: string }[] }).rows[0]!.attcompression).toBe('l');
    } finally {
      await database.drop();
    }
  });

  it('run on embedded PGlite too', async () => {
    const database = await openMemoryDatabase();
    try {
      await migrateDatabase(database);
      expect(await database.db.$count(auditLog)).toBe(0);
    } finally {
      await database.close();
    }
  });
});

describe('the audit log', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(() => database.drop());

  it('refuses UPDATE, DELETE and TRUNCATE', async () => {
    const { db } = database;
    await db.insert(auditLog).values({ actor: 'test', action: 'x', entityType: 'y', entityId: 'z' });
    await expect(db.update(auditLog).set({ actor: 'someone else' })).rejects.toThrow();
    await expect(db.delete(auditLog)).rejects.toThrow();
    await expect(db.execute(sql`TRUNCATE audit_log`)).rejects.toThrow();
    expect(await db.$count(auditLog)).toBe(1);
  });
});

/** An empty database (not from the template), to migrate from scratch. */
async function createTestDatabaseEmpty() {
  const created = await createTestDatabase();
  const admin = await openDatabase({ databaseUrl: created.url, dataDir: '' });
  await admin.db.execute(sql`DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA drizzle CASCADE;`);
  await admin.close();
  return created;
}
