import { PassThrough } from 'node:stream';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, customers, domains, importChunks, importRows, imports } from '../db/schema/index.ts';
import { buildTestApp, eventually, type TestApp } from './helpers/build-test-app.ts';
import { makeProgram, makeToken } from './helpers/factories.ts';

/**
 * Issue 15: an import is a resource. A file over IMPORT_INLINE_BYTES is stored by the request, answered
 * 202 with its Location, and parsed, planned and written by the `imports` job; one
 * import per program at a time; errors are listed up to 1,000 and counted, each once.
 */
const INLINE_BYTES = 20_000;
let t: TestApp;
let admin: string;
beforeAll(async () => {
  t = await buildTestApp({ env: { IMPORT_INLINE_BYTES: String(INLINE_BYTES) } });
  admin = (await makeToken(t.db, 'admin')).token;
});
afterAll(() => t.close());

const HEADER = 'external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department,status\n';
const rows = (n: number, from = 0, name = 'Customer') =>
  Array.from(
    { length: n },
    (_, i) => `R-${from + i},${name} ${from + i},d${from + i}.example.jp,owner${i % 7}@example.jp,Owner ${i % 7},Sales ${(i % 7) % 3},contacted\n`,
  ).join('');
const post = (programId: string, payload: string | PassThrough, query = '') =>
  t.app.inject({
    method: 'POST',
    url: `/v1/programs/${programId}/imports${query}`,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv' },
    payload,
  });
const get = (url: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${admin}` } });

describe('an import over IMPORT_INLINE_BYTES', () => {
  it('answers 202 with Location; the import shows its progress, then its result; the rows are written once and the staging is emptied', async () => {
    const program = await makeProgram(t.db);
    const res = await post(program.id, HEADER + rows(1000));
    expect(res.statusCode).toBe(202);
    const location = res.headers.location as string;
    expect(location).toBe(`/v1/imports/${res.json().id}`);
    expect(res.json()).toMatchObject({
      programId: program.id,
      state: 'queued',
      dryRun: false,
      allOrNothing: true,
      progress: { bytesReceived: (HEADER + rows(1000)).length, rowsRead: 0 },
      result: null,
    });

    const done = await eventually(
      async () => {
        const body = (await get(location)).json();
        return body.state === 'done' ? body : undefined;
      },
      30_000,
      'the import job',
    );
    expect(done).toMatchObject({
      progress: { rowsRead: 1000, rowsPlanned: 1000, rowsWritten: 1000 },
      result: { importId: done.id, created: 1000, ownersCreated: 7, domainsAdded: 1000, errors: [], errorCount: 0, conflictCount: 0, written: true },
      failure: null,
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
    });
    expect(await t.db.$count(customers, eq(customers.programId, program.id))).toBe(1000);
    expect(await t.db.$count(domains, eq(domains.programId, program.id))).toBe(1000);
    expect(await t.db.$count(importRows, eq(importRows.importId, done.id))).toBe(0);
    expect(await t.db.$count(importChunks, eq(importChunks.importId, done.id))).toBe(0);
    expect(await t.db.$count(auditLog, eq(auditLog.action, 'customer.import'))).toBeGreaterThanOrEqual(1000);

    // The same file again: planned by the job, everything unchanged, nothing written.
    const again = await post(program.id, HEADER + rows(1000));
    const second = await eventually(
      async () => {
        const body = (await get(again.headers.location as string)).json();
        return body.state === 'done' ? body : undefined;
      },
      30_000,
      'the second import job',
    );
    expect(second.result).toMatchObject({ created: 0, updated: 0, unchanged: 1000, written: false });
  }, 60_000);

  it('lists the first 1,000 errors by line and counts them all, each once; all-or-nothing writes nothing', async () => {
    const program = await makeProgram(t.db);
    // 1,500 rows, each with two errors (an empty name and a bad status), and one good row at the end.
    const bad = Array.from({ length: 1500 }, (_, i) => `B-${i},,b${i}.example.jp,owner@example.jp,Owner,Sales,sideways\n`).join('');
    const res = await post(program.id, HEADER + bad + rows(1, 9000));
    expect(res.statusCode).toBe(202);
    const done = await eventually(
      async () => {
        const body = (await get(res.headers.location as string)).json();
        return body.state === 'done' ? body : undefined;
      },
      30_000,
      'the import job',
    );
    const { errors, errorCount, written } = done.result;
    expect(written).toBe(false);
    expect(errorCount).toBe(3000);
    expect(errors).toHaveLength(1000);
    const keys = errors.map((e: { line: number; column: string }) => `${e.line}:${e.column}`);
    expect(new Set(keys).size).toBe(1000);
    expect(errors.map((e: { line: number }) => e.line)).toEqual([...errors.map((e: { line: number }) => e.line)].sort((a, b) => a - b));
    expect(errors[0]).toMatchObject({ line: 2 });
    expect(await t.db.$count(customers, eq(customers.programId, program.id))).toBe(0);
  }, 60_000);

  it('the 422 of a small file lists each error once, under `errors`, and counts them in `import`', async () => {
    const program = await makeProgram(t.db);
    const res = await post(program.id, HEADER + 'X-1,,x.example.jp,o@example.jp,O,S,contacted\nX-2,Two,bad..name,o@example.jp,O,S,contacted\n');
    expect(res.statusCode).toBe(422);
    const body = res.json();
    expect(body.errors).toEqual([
      { path: 'line 2, column customer_name', line: 2, column: 'customer_name', message: 'is empty' },
      { path: 'line 3, column domains', line: 3, column: 'domains', message: expect.any(String) },
    ]);
    expect(body.import).toMatchObject({ errorCount: 2, created: 0, written: false });
    expect(body.import.errors).toBeUndefined();
    expect(res.headers['content-location']).toBe(`/v1/imports/${body.import.importId}`);
    expect((await get(`/v1/imports/${body.import.importId}`)).json()).toMatchObject({ state: 'done', result: { errorCount: 2 } });
  });

  it('one import per program at a time: a second one while the first is still arriving is 409 naming it', async () => {
    const program = await makeProgram(t.db);
    const body = new PassThrough();
    body.write(HEADER + rows(10));
    const first = post(program.id, body);
    const receiving = await eventually(
      async () => (await t.db.select().from(imports).where(eq(imports.programId, program.id)))[0],
      10_000,
      'the first import to start',
    );
    expect(receiving.state).toBe('receiving');

    const second = await post(program.id, HEADER + rows(10, 100));
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({
      code: 'APP_IMPORT_RUNNING',
      runningImport: receiving.id,
      detail: expect.stringContaining(`/v1/imports/${receiving.id}`),
    });

    body.end(rows(10, 10));
    expect((await first).json()).toMatchObject({ created: 20, written: true });
    expect((await post(program.id, HEADER + rows(10, 100))).json()).toMatchObject({ created: 10 });
  });

  it('an unknown import is 404; imports are for admins', async () => {
    expect((await get('/v1/imports/6f1c1b2e-0000-4000-8000-000000000000')).statusCode).toBe(404);
    const sales = (await makeToken(t.db, 'manager', { department: 'Sales 0' })).token;
    const res = await t.app.inject({ method: 'GET', url: '/v1/imports/6f1c1b2e-0000-4000-8000-000000000000', headers: { authorization: `Bearer ${sales}` } });
    expect(res.statusCode).toBe(403);
  });
});

describe('an import whose process died', () => {
  it('gives way after 30 minutes without progress: the next import takes the program, and the old one is failed, saying why', async () => {
    const program = await makeProgram(t.db);
    const [stuck] = await t.db
      .insert(imports)
      .values({ programId: program.id, state: 'running', dryRun: false, allOrNothing: true, actor: 'test', heartbeatAt: new Date(Date.now() - 31 * 60_000) })
      .returning();
    const res = await post(program.id, HEADER + rows(3, 500));
    expect(res.json()).toMatchObject({ created: 3, written: true });
    expect((await get(`/v1/imports/${stuck!.id}`)).json()).toMatchObject({ state: 'failed', failure: expect.stringMatching(/no progress for 30 minutes/) });
  });
});
