import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customers } from '../db/schema/index.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeProgram, makeSalesOwner } from './helpers/factories.ts';
import { runProcess } from './helpers/processes.ts';

let t: TestApp;
let env: Record<string, string>;
beforeAll(async () => {
  t = await buildTestApp();
  env = { DATABASE_URL: t.databaseUrl };
});
afterAll(() => t.close());

const cli = (...args: string[]) => runProcess('src/cli.ts', args, env);
const listWith = (token: string) => t.app.inject({ method: 'GET', url: '/v1/programs', headers: { authorization: `Bearer ${token}` } });

describe('the CLI', () => {
  it('creates an admin token that works, printing only the token; lists it and revokes it', async () => {
    const created = await cli('token', 'create', '--role', 'admin', '--name', 'ops');
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^mdt_[A-Za-z0-9_-]{43}$/);
    expect((await listWith(token)).statusCode).toBe(200);

    const listed = await cli('token', 'list', '--json');
    const rows = listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const row = rows.find((r) => r.name === 'ops');
    expect(row).toMatchObject({ role: 'admin', tokenPrefix: token.slice(0, 10), createdBy: expect.stringMatching(/^cli:/) });
    expect(listed.stdout).not.toContain(token);

    const revoked = await cli('token', 'revoke', row.id);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/^revoked /);
    expect((await listWith(token)).statusCode).toBe(401);
  });

  it('creates sales and manager tokens bound to their owner or department', async () => {
    const owner = await makeSalesOwner(t.db);
    const sales = await cli('token', 'create', '--role', 'sales', '--name', 'rep', '--sales-owner', owner.id, '--json');
    expect(sales.code).toBe(0);
    expect(JSON.parse(sales.stdout)).toMatchObject({ role: 'sales', salesOwnerId: owner.id, token: expect.stringMatching(/^mdt_/) });
    const manager = await cli('token', 'create', '--role', 'manager', '--name', 'boss', '--department', 'Sales 1', '--json');
    expect(JSON.parse(manager.stdout)).toMatchObject({ role: 'manager', department: 'Sales 1' });
  });

  it('explains what is wrong and exits non-zero on bad use', async () => {
    const unbound = await cli('token', 'create', '--role', 'sales', '--name', 'rep');
    expect(unbound.code).toBe(1);
    expect(unbound.stderr).toMatch(/salesOwnerId: a sales token must be bound to a sales owner/);
    const badRole = await cli('token', 'create', '--role', 'root', '--name', 'x');
    expect(badRole.code).toBe(64);
    expect(badRole.stderr).toMatch(/--role must be one of admin, manager, sales/);
    const unknownOption = await cli('token', 'create', '--role', 'admin', '--name', 'x', '--colour', 'red');
    expect(unknownOption.code).toBe(64);
    expect(unknownOption.stderr).toMatch(/colour/);
    const unknown = await cli('launch', 'rockets');
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toMatch(/unknown command "launch rockets"/);
    const badConfig = await runProcess('src/cli.ts', ['token', 'list'], { ...env, LOG_LEVEL: 'loud' });
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(/LOG_LEVEL: .*\(got "loud"\)/);
  });

  it('prints help, and applies migrations on demand', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/token create --role admin\|manager\|sales/);
    const commandHelp = await cli('token', 'revoke', '--help');
    expect(commandHelp.stdout).toMatch(/Usage: npm run -s cli -- token revoke ID/);
    const migrate = await cli('db', 'migrate');
    expect(migrate.code).toBe(0);
    expect(migrate.stdout.trim()).toBe('migrations applied');
  });

  it('imports a CSV file, dry run first, and lists bad lines with a non-zero exit', async () => {
    const program = await makeProgram(t.db);
    const sample = path.join(import.meta.dirname, 'fixtures', 'customers-sample.csv');
    const dry = await cli('import', sample, '--program', program.id, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/dry run, nothing written: 6 created/);
    expect(await t.db.$count(customers, eq(customers.programId, program.id))).toBe(0);
    const real = await cli('import', sample, '--program', program.id);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/^imported: 6 created, 0 updated, 0 unchanged; 3 owners created/m);
    expect(await t.db.$count(customers, eq(customers.programId, program.id))).toBe(6);

    const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-cli-')), 'bad.csv');
    fs.writeFileSync(bad, 'external_ref,customer_name,sales_owner_email\nB-1,,someone@example.jp\n');
    const failed = await cli('import', bad, '--program', program.id);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/^line 2, column customer_name: is empty$/m);
    expect(failed.stdout).toMatch(/nothing written/);
    expect((await cli('import', bad)).stderr).toMatch(/--program is required/);
  });
});
