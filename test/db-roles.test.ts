import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf, type Database } from '../db/client.ts';
import { pgError } from '../src/errors.ts';
import { openDataStore } from '../src/bootstrap.ts';
import { loadConfig } from '../src/config.ts';
import { buildAppOn, testLogger } from './helpers/build-test-app.ts';
import { createTestDatabase } from './helpers/database.ts';
import { TEST_PG_ADMIN_URL } from './helpers/env.ts';
import { makeToken, programBody } from './helpers/factories.ts';

/*
 * Least privilege (issue 17): with DATABASE_OWNER_URL, migrations run as the owner and the service as
 * its own role, which may only SELECT and INSERT on the audit log and has no DDL. The attack: the
 * service's own connection trying to rewrite or silence the audit log.
 */

const role = `mdt_svc_${randomBytes(4).toString('hex')}`;
let created: Awaited<ReturnType<typeof createTestDatabase>>;
let service: Database;

beforeAll(async () => {
  created = await createTestDatabase();
  const serviceUrl = new URL(created.url);
  serviceUrl.username = role;
  serviceUrl.password = 'service-password';
  const config = loadConfig({ DATABASE_URL: serviceUrl.toString(), DATABASE_OWNER_URL: created.url });
  service = await openDataStore(config, testLogger());
  // A second start finds the role and its grants in place (idempotent), as every process start does.
  await (await openDataStore(config, testLogger())).close();
});
afterAll(async () => {
  await service.close();
  await created.drop();
  const admin = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${role}`);
  await admin.end();
});

const refusal = async (statement: string) => {
  try {
    await service.db.execute(sql.raw(statement));
    return 'allowed';
  } catch (err) {
    return pgError(err)?.code;
  }
};

describe('the service role', () => {
  it('is the role the service connects as, not the owner', async () => {
    const [who] = rowsOf<{ me: string; owner: string }>(
      await service.db.execute(sql`SELECT current_user AS me, (SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log') AS owner`),
    );
    expect(who!.me).toBe(role);
    expect(who!.owner).not.toBe(role);
  });

  it('cannot UPDATE, DELETE, TRUNCATE the audit log or disable its trigger, nor change the schema (42501 each)', async () => {
    await service.db.execute(sql`INSERT INTO audit_log (actor, action, entity_type, entity_id, at) VALUES ('test', 'probe', 'x', '1', now())`);
    expect(await refusal(`UPDATE audit_log SET action = 'rewritten'`)).toBe('42501');
    expect(await refusal('DELETE FROM audit_log')).toBe('42501');
    expect(await refusal('TRUNCATE audit_log')).toBe('42501');
    expect(await refusal('ALTER TABLE audit_log DISABLE TRIGGER ALL')).toBe('42501');
    expect(await refusal('DROP TABLE audit_log')).toBe('42501');
    expect(await refusal('CREATE TABLE shadow (id int)')).toBe('42501');
    const count = rowsOf<{ n: number }>(await service.db.execute(sql`SELECT count(*)::int AS n FROM audit_log WHERE action = 'probe'`));
    expect(count).toEqual([{ n: 1 }]);
  });

  it('runs the service: a request writes its row and its audit entry', async () => {
    const { app, close } = await buildAppOn(service);
    try {
      const { auth } = await makeToken(service.db, 'admin');
      const res = await app.inject({ method: 'POST', url: '/v1/programs', headers: auth, payload: programBody() });
      expect(res.statusCode).toBe(201);
      const count = rowsOf<{ n: number }>(await service.db.execute(sql`SELECT count(*)::int AS n FROM audit_log WHERE action = 'program.create'`));
      expect(count).toEqual([{ n: 1 }]);
    } finally {
      await close();
    }
  });
});

describe('DATABASE_OWNER_URL', () => {
  it('needs DATABASE_URL (the role the service connects as), and is masked in the error', () => {
    expect(() => loadConfig({ DATABASE_OWNER_URL: 'postgres://owner:hunter2@db/mdt' })).toThrow(/DATABASE_OWNER_URL: needs DATABASE_URL too/);
    expect(() => loadConfig({ DATABASE_URL: 'postgres://svc@db/mdt', DATABASE_OWNER_URL: 'mysql://owner:hunter2@db/mdt' })).toThrow(
      /DATABASE_OWNER_URL: expected a postgres:\/\/ URL \(got "mysql:\/\/owner:\*\*\*@db\/mdt"\)/,
    );
  });
});
