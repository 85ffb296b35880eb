import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, domains, outbox, programs } from '../db/schema/index.ts';
import { buildTestApp, eventually, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeSalesOwner, makeToken, programBody } from './helpers/factories.ts';

let t: TestApp;
let admin: { authorization: string };
let manager: { authorization: string };
let sales: { authorization: string };

beforeAll(async () => {
  t = await buildTestApp();
  admin = (await makeToken(t.db, 'admin')).auth;
  manager = (await makeToken(t.db, 'manager', { department: 'Sales 1' })).auth;
  const owner = await makeSalesOwner(t.db);
  sales = (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).auth;
});
afterAll(() => t.close());

const create = (body: unknown, headers: Record<string, string> = admin) =>
  t.app.inject({ method: 'POST', url: '/v1/programs', headers, payload: body as object });
const counts = async () => ({ programs: await t.db.$count(programs), audit: await t.db.$count(auditLog) });

describe('POST /v1/programs', () => {
  it('creates a program with normalized names, defaults, an ETag, a Location and an audit row', async () => {
    const res = await create(
      programBody({
        timezone: undefined,
        reminderOffsetsDays: undefined,
        legacy: { mxHostSuffixes: [' PO.2IIJ.NET. '], spfIncludes: ['SPF.po.2iij.net.', 'spf.po.2iij.net'] },
        successor: { mxHostSuffixes: ['ゲートウェイ.テスト'], spfIncludes: [] },
      }),
    );
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.legacy).toEqual({ mxHostSuffixes: ['po.2iij.net'], spfIncludes: ['spf.po.2iij.net'], dkimSelectors: [], dkimTargets: [] });
    expect(body.successor.mxHostSuffixes).toEqual(['xn--eckdd6b0gzn.xn--zckzah']);
    expect(body.timezone).toBe('Asia/Tokyo');
    expect(body.reminderOffsetsDays).toEqual([-365, -180, -90, -60, -30, -14, -7, -1]);
    expect(body.version).toBe(1);
    expect(res.headers.etag).toBe('"1"');
    expect(res.headers.location).toBe(`/v1/programs/${body.id}`);

    const [audit] = await t.db.select().from(auditLog).where(eq(auditLog.entityId, body.id));
    expect(audit).toMatchObject({ action: 'program.create', entityType: 'program', actor: expect.stringMatching(/^token:admin-/) });
    expect(audit!.after).toMatchObject({ id: body.id, name: body.name });
    expect(audit!.requestId).toBe(res.headers['x-request-id']);
  });

  it('stores DKIM selectors and targets per side, normalized and without duplicates, and returns them', async () => {
    const res = await create(
      programBody({
        legacy: {
          spfIncludes: ['spf.po.2iij.net'],
          dkimSelectors: [' S1 ', 's1', 'Mail.2019', '_sel'],
          dkimTargets: ['DKIM.po.2iij.net.', 'dkim.po.2iij.net'],
        },
        successor: { spfIncludes: ['spf.gateway.example'], dkimSelectors: ['gw1'], dkimTargets: ['ｄｋｉｍ.gateway.example'] },
      }),
    );
    expect(res.statusCode).toBe(201);
    const expected = {
      legacy: { mxHostSuffixes: [], spfIncludes: ['spf.po.2iij.net'], dkimSelectors: ['s1', 'mail.2019', '_sel'], dkimTargets: ['dkim.po.2iij.net'] },
      successor: { mxHostSuffixes: [], spfIncludes: ['spf.gateway.example'], dkimSelectors: ['gw1'], dkimTargets: ['dkim.gateway.example'] },
    };
    expect(res.json()).toMatchObject(expected);
    expect((await t.app.inject({ method: 'GET', url: `/v1/programs/${res.json().id}`, headers: admin })).json()).toMatchObject(expected);
    const [row] = await t.db.select().from(programs).where(eq(programs.id, res.json().id));
    expect(row).toMatchObject({
      legacyDkimSelectors: ['s1', 'mail.2019', '_sel'],
      legacyDkimTargets: ['dkim.po.2iij.net'],
      successorDkimSelectors: ['gw1'],
      successorDkimTargets: ['dkim.gateway.example'],
    });
  });

  it('defaults every DKIM list to empty', async () => {
    const res = await create(programBody());
    expect(res.json().legacy).toMatchObject({ dkimSelectors: [], dkimTargets: [] });
    expect(res.json().successor).toMatchObject({ dkimSelectors: [], dkimTargets: [] });
  });

  it('stores reminder offsets sorted and without duplicates, and the time zone in canonical spelling', async () => {
    const res = await create(programBody({ reminderOffsetsDays: [-7, -30, -7, 0], timezone: 'asia/tokyo' }));
    expect(res.statusCode).toBe(201);
    expect(res.json().reminderOffsetsDays).toEqual([-30, -7, 0]);
    expect(res.json().timezone).toBe('Asia/Tokyo');
  });

  const badBodies: Array<[string, unknown, string]> = [
    ['a number for the name', programBody({ name: 42 }), 'body.name'],
    ['an empty name', programBody({ name: '   ' }), 'body.name'],
    ['a missing shutdown date', programBody({ shutdownAt: undefined }), 'body.shutdownAt'],
    ['an impossible date', programBody({ shutdownAt: '2022-02-30' }), 'body.shutdownAt'],
    ['a date in the wrong format', programBody({ shutdownAt: '30/09/2022' }), 'body.shutdownAt'],
    ['an IP literal as SPF include', programBody({ legacy: { spfIncludes: ['192.0.2.1'] } }), 'body.legacy.spfIncludes.0'],
    ['a name without a dot', programBody({ legacy: { spfIncludes: ['localhost'] } }), 'body.legacy.spfIncludes.0'],
    ['an over-long label', programBody({ legacy: { mxHostSuffixes: [`${'a'.repeat(64)}.jp`] } }), 'body.legacy.mxHostSuffixes.0'],
    ['a name over 253 octets', programBody({ legacy: { mxHostSuffixes: [`${'abcdefghi.'.repeat(26)}jp`] } }), 'body.legacy.mxHostSuffixes.0'],
    ['an empty label', programBody({ successor: { spfIncludes: ['spf..example.jp'] } }), 'body.successor.spfIncludes.0'],
    ['a string instead of a list', programBody({ legacy: { spfIncludes: 'spf.po.2iij.net' } }), 'body.legacy.spfIncludes'],
    ['no legacy identifier at all', programBody({ legacy: { mxHostSuffixes: [], spfIncludes: [] } }), 'body.legacy'],
    ['SPF record deletion before the shutdown', programBody({ spfRecordDeletionAt: '2022-09-30' }), 'body.spfRecordDeletionAt'],
    ['an unknown time zone', programBody({ timezone: 'Mars/Olympus' }), 'body.timezone'],
    ['a positive reminder offset', programBody({ reminderOffsetsDays: [5] }), 'body.reminderOffsetsDays.0'],
    ['a misspelt field', programBody({ shutdownDate: '2022-09-30' }), 'body.shutdownDate'],
    ['an unknown field inside legacy', programBody({ legacy: { spfIncludes: ['spf.po.2iij.net'], mx: [] } }), 'body.legacy.mx'],
    ['an array as the body', [programBody()], 'body'],
    ['a blank DKIM selector', programBody({ legacy: { spfIncludes: ['spf.po.2iij.net'], dkimSelectors: ['  '] } }), 'body.legacy.dkimSelectors.0'],
    ['a DKIM selector with a space', programBody({ legacy: { spfIncludes: ['spf.po.2iij.net'], dkimSelectors: ['s 1'] } }), 'body.legacy.dkimSelectors.0'],
    ['a DKIM selector with _domainkey', programBody({ successor: { dkimSelectors: ['gw1._domainkey'] } }), 'body.successor.dkimSelectors.0'],
    ['a DKIM selector with a leading hyphen', programBody({ successor: { dkimSelectors: ['ok', '-gw'] } }), 'body.successor.dkimSelectors.1'],
    ['a DKIM selector label over 63 octets', programBody({ successor: { dkimSelectors: ['a'.repeat(64)] } }), 'body.successor.dkimSelectors.0'],
    ['a DKIM target without a dot', programBody({ legacy: { spfIncludes: ['spf.po.2iij.net'], dkimTargets: ['dkim'] } }), 'body.legacy.dkimTargets.0'],
    ['an IP literal as DKIM target', programBody({ successor: { dkimTargets: ['192.0.2.1'] } }), 'body.successor.dkimTargets.0'],
    ['DKIM selectors as a string', programBody({ successor: { dkimSelectors: 's1' } }), 'body.successor.dkimSelectors'],
  ];
  it.each(badBodies)('refuses %s with 400 naming %s and writes nothing', async (_what, body, path) => {
    const before = await counts();
    const res = await create(body);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json();
    expect(problem).toMatchObject({ status: 400, code: 'APP_VALIDATION', type: 'urn:mdt:problem:validation', title: 'Bad Request' });
    expect(problem.errors.map((e: { path: string }) => e.path)).toContain(path);
    expect(await counts()).toEqual(before);
  });

  it('refuses malformed JSON, an empty body and a non-JSON content type with problem+json and writes nothing', async () => {
    const before = await counts();
    const malformed = await t.app.inject({
      method: 'POST',
      url: '/v1/programs',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '{"name": "x",',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().errors[0].path).toBe('body');
    const empty = await t.app.inject({ method: 'POST', url: '/v1/programs', headers: { ...admin, 'content-type': 'application/json' } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().errors[0].path).toBe('body');
    const text = await t.app.inject({
      method: 'POST',
      url: '/v1/programs',
      headers: { ...admin, 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(text.statusCode).toBe(415);
    for (const res of [malformed, empty, text]) expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(await counts()).toEqual(before);
  });

  it('refuses a body over the size limit with 413 and writes nothing', async () => {
    const before = await counts();
    const res = await create(programBody({ name: 'x'.repeat(1024 * 1024 + 10) }));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'APP_BODY_TOO_LARGE', status: 413 });
    expect(await counts()).toEqual(before);
  });

  it('refuses managers and sales with 403 and writes nothing', async () => {
    const before = await counts();
    for (const headers of [manager, sales]) {
      const res = await create(programBody(), headers);
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('APP_FORBIDDEN');
    }
    expect(await counts()).toEqual(before);
  });
});

describe('authentication', () => {
  it.each([
    ['no Authorization header', {}, /Authorization: Bearer/],
    ['a Basic header', { authorization: 'Basic dXNlcjpwYXNz' }, /must be "Bearer <token>"/],
    ['a malformed token', { authorization: 'Bearer nope' }, /malformed/],
    ['an unknown token', { authorization: `Bearer mdt_${'A'.repeat(43)}` }, /not known/],
  ])('answers 401 problem+json to %s and writes nothing', async (_what, headers, detail) => {
    const before = await counts();
    const res = await create(programBody(), headers as Record<string, string>);
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'APP_UNAUTHENTICATED', detail: expect.stringMatching(detail) });
    expect(await counts()).toEqual(before);
  });
});

describe('GET /v1/programs', () => {
  it('lets every role read, pages newest first with a cursor, and never repeats an item', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await create(programBody())).json().id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { statusCode: number; json(): unknown } = await t.app.inject({
        method: 'GET',
        url: '/v1/programs',
        headers: sales,
        query: { limit: '2', ...(cursor ? { cursor } : {}) },
      });
      expect(res.statusCode).toBe(200);
      const page = res.json() as { items: { id: string }[]; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((p: { id: string }) => p.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(await t.db.$count(programs));
    // newest first: the five just made come first, last-made at the top
    expect(seen.slice(0, 5)).toEqual([...created].reverse());
    const asManager = await t.app.inject({ method: 'GET', url: '/v1/programs', headers: manager });
    expect(asManager.statusCode).toBe(200);
  });

  it('refuses a limit over 200 and a forged cursor, naming the query field', async () => {
    const big = await t.app.inject({ method: 'GET', url: '/v1/programs?limit=201', headers: admin });
    expect(big.statusCode).toBe(400);
    expect(big.json().errors[0].path).toBe('query.limit');
    const forged = await t.app.inject({ method: 'GET', url: '/v1/programs?cursor=bm9wZQ', headers: admin });
    expect(forged.statusCode).toBe(400);
    expect(forged.json().errors[0].path).toBe('query.cursor');
  });
});

describe('GET /v1/programs/{id}', () => {
  it('returns the program with its version as ETag; 404 for an unknown id, 400 for a non-UUID', async () => {
    const { id } = (await create(programBody())).json();
    const res = await t.app.inject({ method: 'GET', url: `/v1/programs/${id}`, headers: sales });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe('"1"');
    const missing = await t.app.inject({ method: 'GET', url: '/v1/programs/6f1c1b2e-0000-4000-8000-000000000000', headers: admin });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('APP_PROGRAM_NOT_FOUND');
    const bad = await t.app.inject({ method: 'GET', url: '/v1/programs/42', headers: admin });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toBe('path.id');
  });
});

describe('PATCH /v1/programs/{id}', () => {
  const patch = (id: string, body: unknown, headers: Record<string, string>) =>
    t.app.inject({ method: 'PATCH', url: `/v1/programs/${id}`, headers, payload: body as object });

  it('requires If-Match (428), refuses a stale version (412) and applies a current one', async () => {
    const { id } = (await create(programBody())).json();
    const missing = await patch(id, { name: 'Renamed' }, admin);
    expect(missing.statusCode).toBe(428);
    expect(missing.json().code).toBe('APP_PRECONDITION_REQUIRED');

    const ok = await patch(id, { name: 'Renamed' }, { ...admin, 'if-match': '"1"' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ name: 'Renamed', version: 2 });
    expect(ok.headers.etag).toBe('"2"');

    const stale = await patch(id, { name: 'Again' }, { ...admin, 'if-match': '"1"' });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().detail).toMatch(/current version is 2/);
    const after = await t.app.inject({ method: 'GET', url: `/v1/programs/${id}`, headers: admin });
    expect(after.json().name).toBe('Renamed');

    const garbage = await patch(id, { name: 'Again' }, { ...admin, 'if-match': 'yesterday' });
    expect(garbage.statusCode).toBe(400);
    expect(garbage.json().errors[0].path).toBe('headers.if-match');
  });

  it('lets exactly one of two concurrent changes from the same version win', async () => {
    const { id } = (await create(programBody())).json();
    const results = await Promise.all([
      patch(id, { name: 'First' }, { ...admin, 'if-match': '"1"' }),
      patch(id, { name: 'Second' }, { ...admin, 'if-match': '"1"' }),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 412]);
    const winner = results.find((r) => r.statusCode === 200)!.json().name;
    const now = await t.app.inject({ method: 'GET', url: `/v1/programs/${id}`, headers: admin });
    expect(now.json()).toMatchObject({ name: winner, version: 2 });
  });

  it('checks cross-field rules on the merged program and writes nothing when they fail', async () => {
    const { id } = (await create(programBody({ legacy: { spfIncludes: ['spf.po.2iij.net'] } }))).json();
    const before = await counts();
    const noLegacy = await patch(id, { legacy: { spfIncludes: [] } }, { ...admin, 'if-match': '"1"' });
    expect(noLegacy.statusCode).toBe(400);
    expect(noLegacy.json().errors[0].path).toBe('body.legacy');
    const earlyDeletion = await patch(id, { shutdownAt: '2023-12-31' }, { ...admin, 'if-match': '"1"' });
    expect(earlyDeletion.statusCode).toBe(400);
    expect(earlyDeletion.json().errors[0].path).toBe('body.spfRecordDeletionAt');
    expect(await counts()).toEqual(before);
  });

  it('records before and after in the audit log, and a no-op change writes nothing', async () => {
    const { id } = (await create(programBody({ name: 'Before' }))).json();
    await patch(id, { name: 'After' }, { ...admin, 'if-match': '"1"' });
    const rows = await t.db.select().from(auditLog).where(eq(auditLog.entityId, id));
    const update = rows.find((r) => r.action === 'program.update')!;
    expect(update.before).toMatchObject({ name: 'Before', version: 1 });
    expect(update.after).toMatchObject({ name: 'After', version: 2 });

    const before = await counts();
    const same = await patch(id, { name: 'After' }, { ...admin, 'if-match': '"2"' });
    expect(same.statusCode).toBe(200);
    expect(same.json().version).toBe(2);
    expect(await counts()).toEqual(before);
  });

  it('marks every domain of the program due for a check when its identifiers change, via the outbox', async () => {
    const { id } = (await create(programBody())).json();
    const owner = await makeSalesOwner(t.db);
    const customer = await makeCustomer(t.db, id, owner.id);
    const later = new Date(Date.now() + 7 * 86_400_000);
    const domain = await makeDomain(t.db, customer, { nextCheckAt: later });

    const renamed = await patch(id, { name: 'Only the name' }, { ...admin, 'if-match': '"1"' });
    expect(renamed.statusCode).toBe(200);
    expect(await t.db.$count(outbox)).toBe(0);

    const res = await patch(id, { legacy: { spfIncludes: ['spf.po.2iij.net', 'spf2.po.2iij.net'] } }, { ...admin, 'if-match': '"2"' });
    expect(res.statusCode).toBe(200);
    const [row] = await t.db.select().from(outbox);
    expect(row).toMatchObject({ queue: 'programs', jobName: 'mark-domains-due', jobId: `program-${id}-v3` });
    await eventually(
      async () => {
        const [d] = await t.db.select().from(domains).where(eq(domains.id, domain.id));
        return d!.nextCheckAt < later;
      },
      10_000,
      'the domain to be marked due',
    );
    await eventually(async () => (await t.db.select().from(outbox))[0]!.dispatchedAt !== null, 5000, 'the outbox row to be marked dispatched');
  });

  it('changes one identifier list and keeps the others of that side', async () => {
    const { id } = (await create(programBody())).json();
    const res = await patch(id, { legacy: { spfIncludes: ['spf2.po.2iij.net'] } }, { ...admin, 'if-match': '"1"' });
    expect(res.statusCode).toBe(200);
    expect(res.json().legacy).toMatchObject({ mxHostSuffixes: ['po.2iij.net'], spfIncludes: ['spf2.po.2iij.net'] });
    expect(res.json().successor).toMatchObject({ mxHostSuffixes: ['mx.gateway.example'], spfIncludes: ['spf.gateway.example'] });
  });

  it('changes the DKIM settings of one side, keeps the rest, and marks the program\u2019s domains due', async () => {
    const { id } = (
      await create(programBody({ legacy: { spfIncludes: ['spf.po.2iij.net'], dkimSelectors: ['s1'], dkimTargets: ['dkim.po.2iij.net'] } }))
    ).json();
    const res = await patch(id, { successor: { dkimSelectors: ['gw1'] } }, { ...admin, 'if-match': '"1"' });
    expect(res.statusCode).toBe(200);
    expect(res.json().legacy).toEqual({ mxHostSuffixes: [], spfIncludes: ['spf.po.2iij.net'], dkimSelectors: ['s1'], dkimTargets: ['dkim.po.2iij.net'] });
    expect(res.json().successor).toEqual({
      mxHostSuffixes: ['mx.gateway.example'],
      spfIncludes: ['spf.gateway.example'],
      dkimSelectors: ['gw1'],
      dkimTargets: [],
    });
    const [row] = await t.db
      .select()
      .from(outbox)
      .where(eq(outbox.jobId, `program-${id}-v2`));
    expect(row).toMatchObject({ queue: 'programs', jobName: 'mark-domains-due' });
  });

  it('sets the re-check cadence and auto-progress per program, defaults first, merged field by field', async () => {
    const created = (await create(programBody())).json();
    expect(created).toMatchObject({
      checkCadence: { actionHours: 6, cleanHours: 24, completedHours: 168, urgentWindowDays: 14, urgentIntervalHours: 1 },
      autoProgress: true,
    });
    const res = await patch(created.id, { checkCadence: { actionHours: 3 }, autoProgress: false }, { ...admin, 'if-match': '"1"' });
    expect(res.json()).toMatchObject({ checkCadence: { actionHours: 3, cleanHours: 24 }, autoProgress: false, version: 2 });
    const bad = await patch(created.id, { checkCadence: { cleanHours: 0 } }, { ...admin, 'if-match': '"2"' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toBe('body.checkCadence.cleanHours');
  });

  it('refuses managers and sales with 403', async () => {
    const { id } = (await create(programBody())).json();
    for (const headers of [manager, sales]) {
      const res = await patch(id, { name: 'x' }, { ...headers, 'if-match': '"1"' });
      expect(res.statusCode).toBe(403);
    }
  });
});
