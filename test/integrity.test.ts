import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/client.ts';
import { customers, dnsChecks, domains, statusEvents, tasks } from '../db/schema/index.ts';
import { claimDueDomains } from '../src/probes/check-repository.ts';
import { encodeCursor } from '../src/lib/cursor.ts';
import { retryOnceOnDeadlock } from '../src/lib/deadlock.ts';
import { toProblem } from '../src/http/problems.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/**
 * Issue 15's attacks, each as an attacker runs it (parallel requests against real PostgreSQL):
 * every answer is the right 4xx, never a 500, and every acknowledged write is in the database.
 */
let t: TestApp;
let admin: string;
beforeAll(async () => {
  t = await buildTestApp();
  admin = (await makeToken(t.db, 'admin')).token;
});
afterAll(() => t.close());

const call = (method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${admin}`, ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body === undefined ? {} : { payload: body as string }),
  });
const importCsv = (programId: string, csv: string, query = '') =>
  t.app.inject({
    method: 'POST',
    url: `/v1/programs/${programId}/imports${query}`,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv' },
    payload: csv,
  });
const header = 'external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department,status,planned_migration_at\n';

describe('text PostgreSQL cannot store', () => {
  it('a NUL in the query is a 400 naming the parameter', async () => {
    const res = await call('GET', '/v1/customers?q=a%00b');
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().errors).toEqual([{ path: 'query.q', message: expect.stringContaining('NUL') }]);
  });

  it('a NUL or an unpaired surrogate in a JSON body is a 400 naming the field, and nothing changes', async () => {
    const program = await makeProgram(t.db);
    const c = await makeCustomer(t.db, program.id, (await makeSalesOwner(t.db)).id);
    for (const notes of ['"a\\u0000b"', '"a\\ud800b"', '"\\udc00"']) {
      const res = await call('PATCH', `/v1/customers/${c.id}`, `{"notes":${notes}}`, { 'if-match': '"1"' });
      expect(res.statusCode).toBe(400);
      expect(res.json().errors[0].path).toBe('body.notes');
    }
    const [row] = await t.db.select().from(customers).where(eq(customers.id, c.id));
    expect(row).toMatchObject({ version: 1, notes: null });
    // A surrogate pair (an emoji) is text like any other.
    expect((await call('PATCH', `/v1/customers/${c.id}`, '{"notes":"ok \\ud83d\\ude00"}', { 'if-match': '"1"' })).statusCode).toBe(200);
  });

  it('a CSV cell with a NUL is an error of its line and column in the dry run and the real import alike', async () => {
    const program = await makeProgram(t.db);
    const csv = `${header}N-1,bad\u0000name,n1.example.jp,n@example.co.jp,N,営業,,\n`;
    const dry = await importCsv(program.id, csv, '?dryRun=true');
    expect(dry.statusCode).toBe(200);
    expect(dry.json().errors).toEqual([{ line: 2, column: 'customer_name', message: expect.stringContaining('NUL') }]);
    const real = await importCsv(program.id, csv);
    expect(real.statusCode).toBe(422);
    expect(real.json().errors[0]).toMatchObject({ line: 2, column: 'customer_name' });
    expect(await t.db.$count(customers, eq(customers.programId, program.id))).toBe(0);
  });

  it('a long bad value quoted in an error is cut between characters, never inside one (an emoji at the cut)', async () => {
    // Each message quotes the first 40, 60 or 80 UTF-16 units of the value; an emoji is two of them.
    const odd = (n: number) => `${'x'.repeat(n - 1)}😀😀😀`;
    const program = await makeProgram(t.db);
    const row = [`E-1`, 'Name', `${odd(80)}.jp`, odd(80), 'N', '営業', odd(40), odd(40)].join(',');
    for (const query of ['?dryRun=true', '']) {
      const res = await importCsv(program.id, `${header}${row}\n`, query);
      expect(res.statusCode).toBe(query ? 200 : 422);
      const listed = res.json().errors as { column: string; message: string }[];
      expect(listed.map((e) => e.column).sort()).toEqual(['domains', 'planned_migration_at', 'sales_owner_email', 'status']);
      for (const e of listed) expect(e.message).toMatch(/x…"/);
    }
    const c = await makeCustomer(t.db, program.id, (await makeSalesOwner(t.db)).id);
    const domain = await call('POST', `/v1/customers/${c.id}/domains`, JSON.stringify({ name: `${odd(60)}!.jp` }));
    expect(domain.statusCode).toBe(400);
    expect(domain.json().errors).toEqual([{ path: 'body.name', message: expect.stringMatching(/^"x+…" has/) }]);
  });
});

describe('cursors', () => {
  it('a cursor made for one sort, used with another, is a 400 that says so', async () => {
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    for (let i = 0; i < 3; i++) await makeCustomer(t.db, program.id, owner.id);
    const first = await call('GET', `/v1/customers?programId=${program.id}&sort=name&limit=1`);
    const cursor = first.json().nextCursor as string;
    expect((await call('GET', `/v1/customers?programId=${program.id}&sort=name&limit=1&cursor=${cursor}`)).statusCode).toBe(200);
    for (const sort of ['status', 'updatedAt', '-plannedMigrationAt']) {
      const res = await call('GET', `/v1/customers?programId=${program.id}&sort=${sort}&limit=1&cursor=${cursor}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().errors[0]).toMatchObject({ path: 'query.cursor', message: expect.stringContaining('sort=name') });
    }
  });

  it('every sort pages through with its own cursors', async () => {
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    for (let i = 0; i < 3; i++) await makeCustomer(t.db, program.id, owner.id, { plannedMigrationAt: i === 0 ? null : `2026-0${i}-15` });
    for (const sort of ['name', '-status', 'updatedAt', '-updatedAt', 'plannedMigrationAt']) {
      const seen: string[] = [];
      let cursor = '';
      for (let page = 0; page < 5; page++) {
        const res = await call('GET', `/v1/customers?programId=${program.id}&sort=${sort}&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.statusCode, sort).toBe(200);
        seen.push(...res.json().items.map((c: { id: string }) => c.id));
        cursor = res.json().nextCursor;
        if (!cursor) break;
      }
      expect(new Set(seen).size, sort).toBe(3);
    }
  });

  it('forged cursors (values the SQL would choke on) are 400, never 500', async () => {
    const program = await makeProgram(t.db);
    const c = await makeCustomer(t.db, program.id, (await makeSalesOwner(t.db)).id);
    const id = '00000000-0000-4000-8000-000000000000';
    const forged: [string, unknown[]][] = [
      [`/v1/customers?sort=status`, ['status', 'not a number', id]],
      [`/v1/customers?sort=updatedAt`, ['updatedAt', '2026-02-31 10:00:00+00', id]],
      [`/v1/customers?sort=plannedMigrationAt`, ['plannedMigrationAt', '2026-13-01', id]],
      [`/v1/customers?sort=name`, ['name', 'a\u0000b', id]],
      [`/v1/customers/${c.id}/history`, ['2026-02-31T00:00:00Z', 'audit', '1']],
      [`/v1/customers/${c.id}/history`, ['2026-01-31T00:00:00Z', 'audit', 'x']],
      [`/v1/programs`, ['2026-02-30T00:00:00Z', id]],
      [`/v1/tasks`, ['2026-02-30T00:00:00Z', id]],
      [`/v1/programs/${program.id}/blast-radius`, [2 ** 40, 'a', id]],
    ];
    for (const [url, values] of forged) {
      const res = await call('GET', `${url}${url.includes('?') ? '&' : '?'}cursor=${encodeCursor(values as (string | number)[])}`);
      expect(res.statusCode, `${url} ${JSON.stringify(values)}`).toBe(400);
      expect(res.json().errors[0].path).toBe('query.cursor');
    }
  });
});

describe('cookies', () => {
  it('a malformed session cookie is treated as absent', async () => {
    for (const cookie of ['mdt_session=%', 'mdt_session=%zz; other=1', 'mdt_session', '=; mdt_session=%E0%A4%A']) {
      const res = await t.app.inject({ method: 'GET', url: '/dashboard/', headers: { cookie } });
      expect(res.statusCode, cookie).toBeLessThan(500);
      expect([200, 303]).toContain(res.statusCode);
    }
  });
});

describe('races', () => {
  it('crosswise handovers in parallel never deadlock: every round answers 200 twice, and the books end whole', async () => {
    const program = await makeProgram(t.db);
    const [x, y] = [await makeSalesOwner(t.db), await makeSalesOwner(t.db)];
    const mine = await Promise.all(Array.from({ length: 6 }, (_, i) => makeCustomer(t.db, program.id, i % 2 ? x.id : y.id)));
    for (let round = 0; round < 8; round++) {
      const answers = await Promise.all([
        call('POST', `/v1/sales-owners/${x.id}/handover`, JSON.stringify({ toSalesOwnerId: y.id, deactivate: false })),
        call('POST', `/v1/sales-owners/${y.id}/handover`, JSON.stringify({ toSalesOwnerId: x.id, deactivate: false })),
      ]);
      expect(answers.map((a) => a.statusCode)).toEqual([200, 200]);
      // One ran after the other: the whole book ends with one of them.
      const owners = await t.db
        .select({ owner: customers.salesOwnerId })
        .from(customers)
        .where(
          inArray(
            customers.id,
            mine.map((c) => c.id),
          ),
        );
      expect(new Set(owners.map((o) => o.owner)).size).toBe(1);
    }
  });

  it('one new domain claimed by many customers at once: one 201, the rest 409 naming the holder', async () => {
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    const claimants = await Promise.all(Array.from({ length: 15 }, () => makeCustomer(t.db, program.id, owner.id)));
    const answers = await Promise.all(
      claimants.flatMap((c) => [0, 1, 2].map(() => call('POST', `/v1/customers/${c.id}/domains`, JSON.stringify({ name: 'contested.example.jp' })))),
    );
    const codes = answers.map((a) => a.statusCode);
    expect(codes.filter((c) => c === 201)).toHaveLength(1);
    expect(codes.every((c) => c === 201 || c === 409)).toBe(true);
    const winner = answers.find((a) => a.statusCode === 201)!.json();
    const rows = await t.db.select().from(domains).where(eq(domains.name, 'contested.example.jp'));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id).toBe(winner.id);
    expect(answers.filter((a) => a.statusCode === 409).every((a) => ['APP_DOMAIN_TAKEN', 'APP_DOMAIN_EXISTS'].includes(a.json().code))).toBe(true);
  });

  it('parallel imports of one file: each answers 200 or 409 (one import per program at a time), and the file is in once', async () => {
    const program = await makeProgram(t.db);
    const csv = header + Array.from({ length: 300 }, (_, i) => `PAR-${i},会社${i},par${i}.example.jp,par@example.co.jp,P,営業,,`).join('\n') + '\n';
    const answers = await Promise.all([0, 1, 2, 3].map(() => importCsv(program.id, csv)));
    const codes = answers.map((a) => a.statusCode);
    expect(codes.every((c) => c === 200 || c === 409)).toBe(true);
    expect(codes).toContain(200);
    for (const a of answers.filter((x) => x.statusCode === 409)) expect(a.json().code).toBe('APP_IMPORT_RUNNING');
    expect(await t.db.$count(customers, eq(customers.programId, program.id))).toBe(300);
    expect(await t.db.$count(domains, eq(domains.programId, program.id))).toBe(300);
  });

  it('an import that moves a customer to a final status closes its open tasks, as a transition does', async () => {
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db, { email: 'fin@example.co.jp' });
    const c = await makeCustomer(t.db, program.id, owner.id, { externalRef: 'FIN-1', status: 'contacted' });
    const [task] = await t.db
      .insert(tasks)
      .values({
        programId: program.id,
        customerId: c.id,
        assigneeId: owner.id,
        kind: 'reminder',
        milestone: 'm',
        dedupeKey: `fin-${c.id}`,
        title: 'call',
        dueAt: new Date(),
      })
      .returning();
    const res = await importCsv(program.id, `${header}FIN-1,${c.name},,fin@example.co.jp,,,cancelled,\n`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().updated).toBe(1);
    const [after] = await t.db.select().from(tasks).where(eq(tasks.id, task!.id));
    expect(after!.status).not.toBe('open');
  });

  it('a re-import running beside transitions never reverts an acknowledged one: the row is a conflict instead', async () => {
    const program = await makeProgram(t.db);
    const n = 400;
    const rows = (suffix: string) =>
      header + Array.from({ length: n }, (_, i) => `RE-${i},会社${i}${suffix},re${i}.example.jp,re@example.co.jp,R,営業,,`).join('\n') + '\n';
    expect((await importCsv(program.id, rows(''))).statusCode).toBe(200);
    const list = await t.db.select({ id: customers.id, ref: customers.externalRef }).from(customers).where(eq(customers.programId, program.id));
    const targets = list.slice(0, 60);
    const acknowledged: string[] = [];
    const transitions = Promise.all(
      targets.map(async (c, i) => {
        await new Promise((r) => setTimeout(r, i * 3));
        const res = await call('POST', `/v1/customers/${c.id}/transitions`, JSON.stringify({ to: 'contacted' }), { 'if-match': '"1"' });
        expect([200, 412]).toContain(res.statusCode);
        if (res.statusCode === 200) acknowledged.push(c.id);
      }),
    );
    const reimport = importCsv(program.id, rows(' 新'));
    const [result] = await Promise.all([reimport, transitions]);
    expect(result.statusCode).toBe(200);
    expect(acknowledged.length).toBeGreaterThan(0);
    const after = await t.db.select().from(customers).where(inArray(customers.id, acknowledged));
    // Every acknowledged transition stands, and its status event agrees with the row.
    for (const row of after) expect(row.status, row.externalRef).toBe('contacted');
    const events = await t.db.select().from(statusEvents).where(inArray(statusEvents.customerId, acknowledged));
    for (const id of acknowledged) expect(events.filter((e) => e.customerId === id && e.toStatus === 'contacted')).toHaveLength(1);
    // Whatever the import did not write is reported; everything else got the new name.
    const conflicts = new Set(result.json().conflicts.map((c: { externalRef: string }) => c.externalRef));
    const all = await t.db.select().from(customers).where(eq(customers.programId, program.id));
    for (const row of all) expect(row.name.endsWith(' 新') || conflicts.has(row.externalRef), row.externalRef).toBe(true);
    expect(result.json().updated + conflicts.size).toBe(n);
  });
});

describe('races the services do not name', () => {
  it('a deadlock victim is undone whole and run once more (retryOnceOnDeadlock), on real PostgreSQL', async () => {
    await t.db.execute(sql`CREATE TABLE IF NOT EXISTS deadlock_probe (id int PRIMARY KEY, v int NOT NULL)`);
    await t.db.execute(sql`INSERT INTO deadlock_probe VALUES (1, 0), (2, 0) ON CONFLICT (id) DO UPDATE SET v = 0`);
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let runs = 0;
    let otherLocked!: () => void;
    const otherHolds = new Promise<void>((resolve) => (otherLocked = resolve));
    // The wrapped one starts waiting first, so its deadlock_timeout fires first: PostgreSQL picks it as the victim.
    const victim = retryOnceOnDeadlock(() =>
      t.db.transaction(async (tx) => {
        runs++;
        await tx.execute(sql`UPDATE deadlock_probe SET v = v + 1 WHERE id = 1`);
        if (runs === 1) await otherHolds;
        await tx.execute(sql`UPDATE deadlock_probe SET v = v + 10 WHERE id = 2`);
      }),
    );
    const other = t.db.transaction(async (tx) => {
      await tx.execute(sql`UPDATE deadlock_probe SET v = v + 100 WHERE id = 2`);
      otherLocked();
      await pause(300);
      await tx.execute(sql`UPDATE deadlock_probe SET v = v + 1000 WHERE id = 1`);
    });
    await Promise.all([victim, other]);
    expect(runs).toBe(2);
    const rows = rowsOf<{ id: number; v: number }>(await t.db.execute(sql`SELECT id, v FROM deadlock_probe ORDER BY id`));
    expect(rows).toEqual([
      { id: 1, v: 1001 },
      { id: 2, v: 110 },
    ]);
  });

  it('a unique value taken by a concurrent request is a 409 naming the constraint; a deadlock left over is a 503 to send again', () => {
    const request = { url: '/v1/x?y', id: 'req-1' } as never;
    const unique = toProblem(Object.assign(new Error('duplicate key'), { code: '23505', constraint: 'domains_program_name_key' }), request, 0);
    expect(unique).toMatchObject({ status: 409, code: 'APP_CONFLICT', detail: expect.stringContaining('domains_program_name_key') });
    const deadlock = toProblem(new Error('wrapped', { cause: Object.assign(new Error('deadlock detected'), { code: '40P01' }) }), request, 0);
    expect(deadlock).toMatchObject({ status: 503, code: 'APP_CONCURRENT_CHANGE' });
  });
});

describe('deleting a domain keeps its history', () => {
  it('archives it: checks, tasks and audit stay; it leaves lists, readiness and sweeps; its name is free; an admin restores it', async () => {
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    const manager = (await makeToken(t.db, 'manager', { department: owner.department })).auth;
    const a = await makeCustomer(t.db, program.id, owner.id);
    const b = await makeCustomer(t.db, program.id, owner.id);
    const added = await call('POST', `/v1/customers/${a.id}/domains`, JSON.stringify({ name: 'archive-me.example.jp' }));
    expect(added.statusCode).toBe(201);
    const domainId = added.json().id as string;
    await t.db.update(domains).set({ latestVerdict: 'needs_spf_cleanup', breaksAtDeletion: true }).where(eq(domains.id, domainId));
    await t.db.insert(dnsChecks).values({
      domainId,
      checkedAt: new Date(),
      outcome: 'determined',
      verdict: 'needs_spf_cleanup',
      result: {},
      durationMs: 1,
      resolver: 'test',
      verdictChanged: true,
    });
    const [task] = await t.db
      .insert(tasks)
      .values({
        programId: program.id,
        customerId: a.id,
        domainId,
        assigneeId: owner.id,
        kind: 'regression',
        milestone: 'regression',
        dedupeKey: `regression:${domainId}`,
        title: 't',
        details: {},
        dueAt: new Date(),
      })
      .returning();
    const readiness = async () => (await call('GET', `/v1/programs/${program.id}/readiness`)).json();
    expect((await readiness()).domains).toMatchObject({ total: 1, blastRadius: 1 });

    const del = await t.app.inject({ method: 'DELETE', url: `/v1/domains/${domainId}`, headers: manager });
    expect(del.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/domains/${domainId}`, headers: manager })).statusCode).toBe(409);

    // The evidence is all there, readable.
    const read = await call('GET', `/v1/domains/${domainId}`);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ archived: { by: expect.stringContaining('token:') }, latestCheck: { verdict: 'needs_spf_cleanup' } });
    expect((await call('GET', `/v1/domains/${domainId}/checks`)).json().items).toHaveLength(1);
    const [kept] = await t.db.select().from(tasks).where(eq(tasks.id, task!.id));
    expect(kept).toMatchObject({ status: 'closed', closeReason: expect.stringContaining('archived') });
    const history = (await call('GET', `/v1/customers/${a.id}/history`)).json().items as { action?: string }[];
    expect(history.map((h) => h.action)).toEqual(expect.arrayContaining(['domain.create', 'domain.archive']));
    // The database itself refuses to remove a domain that has evidence.
    await expect(t.db.delete(domains).where(eq(domains.id, domainId))).rejects.toThrow();

    // Out of the customer, the list, readiness, the blast radius and the sweeps.
    expect((await call('GET', `/v1/customers/${a.id}`)).json().domains).toEqual([]);
    expect((await call('GET', `/v1/customers?programId=${program.id}&q=archive-me`)).json().items).toEqual([]);
    expect((await call('GET', `/v1/customers/${a.id}/archived-domains`)).json().items).toEqual([expect.objectContaining({ id: domainId })]);
    expect((await readiness()).domains).toMatchObject({ total: 0, blastRadius: 0 });
    expect((await call('GET', `/v1/programs/${program.id}/blast-radius`)).json()).toMatchObject({ total: 0 });
    await t.db
      .update(domains)
      .set({ nextCheckAt: new Date(0) })
      .where(eq(domains.id, domainId));
    expect(await claimDueDomains(t.db, new Date(), 1000, program.id)).toEqual([]);
    expect((await call('POST', `/v1/domains/${domainId}/checks`)).statusCode).toBe(409);

    // The name is free for another customer; while b holds it, a's copy cannot come back.
    expect((await call('POST', `/v1/customers/${b.id}/domains`, JSON.stringify({ name: 'archive-me.example.jp' }))).statusCode).toBe(201);
    const blocked = await call('POST', `/v1/domains/${domainId}/restore`);
    expect(blocked.statusCode).toBe(409);
    expect(blocked.json()).toMatchObject({ code: 'APP_DOMAIN_TAKEN', detail: expect.stringContaining(b.externalRef) });
    const [held] = await t.db
      .select()
      .from(domains)
      .where(and(eq(domains.customerId, b.id), isNull(domains.archivedAt)));
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/domains/${held!.id}`, headers: manager })).statusCode).toBe(204);

    // Only an admin restores; the domain is back and due for a check at once.
    expect((await t.app.inject({ method: 'POST', url: `/v1/domains/${domainId}/restore`, headers: manager })).statusCode).toBe(403);
    const restored = await call('POST', `/v1/domains/${domainId}/restore`);
    expect(restored.statusCode).toBe(200);
    expect(restored.json()).toMatchObject({ id: domainId, archived: null });
    expect((await call('POST', `/v1/domains/${domainId}/restore`)).statusCode).toBe(409);
    expect((await call('GET', `/v1/customers/${a.id}`)).json().domains).toEqual([expect.objectContaining({ id: domainId })]);
    expect((await readiness()).domains).toMatchObject({ total: 1, blastRadius: 1 });
    expect(await claimDueDomains(t.db, new Date(Date.now() + 1000), 1000, program.id)).toEqual([{ id: domainId }]);
  });
});
