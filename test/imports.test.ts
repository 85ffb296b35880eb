import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/client.ts';
import { auditLog, customerContacts, customers, domains, salesOwners, statusEvents } from '../db/schema/index.ts';
import { parseCsvDate } from '../src/imports/import-rows.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

const sample = fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'customers-sample.csv'));
const header = 'external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department,status,planned_migration_at\n';
const contactHeader = 'external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department,contact_name,contact_email,contact_language\n';

let t: TestApp;
let admin: string;
beforeAll(async () => {
  t = await buildTestApp({ env: { IMPORT_MAX_BYTES: '65536' } });
  admin = (await makeToken(t.db, 'admin')).token;
});
afterAll(() => t.close());

const post = (programId: string, body: Buffer | string, query = '', token = admin, contentType = 'text/csv') =>
  t.app.inject({
    method: 'POST',
    url: `/v1/programs/${programId}/imports${query}`,
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    payload: body,
  });

const snapshot = async () => ({
  customers: await t.db.$count(customers),
  domains: await t.db.$count(domains),
  owners: await t.db.$count(salesOwners),
  events: await t.db.$count(statusEvents),
  audit: await t.db.$count(auditLog),
  contacts: await t.db.$count(customerContacts),
});

describe('CSV import', () => {
  it('imports the sample file, and re-importing it reports everything unchanged and writes nothing', async () => {
    const program = await makeProgram(t.db);
    const res = await post(program.id, sample);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ created: 6, updated: 0, unchanged: 0, ownersCreated: 3, domainsAdded: 8, errors: [], written: true });
    const rows = await t.db.select().from(customers).where(eq(customers.programId, program.id));
    const lm4 = rows.find((r) => r.externalRef === 'LM-0004')!;
    expect(lm4).toMatchObject({ name: '合同会社 "ひかり" 商店', status: 'migrating', plannedMigrationAt: '2022-08-01' });
    const [hikari] = await t.db.select().from(domains).where(eq(domains.customerId, lm4.id));
    expect(hikari).toMatchObject({ displayName: 'ひかり商店.example.jp', name: expect.stringMatching(/^xn--/) });
    const [suzuki] = await t.db.select().from(salesOwners).where(eq(salesOwners.email, 'suzuki@example.co.jp'));
    expect(suzuki).toMatchObject({ name: '鈴木 一郎', department: '法人営業1部' });
    expect(
      rows
        .filter((r) => r.salesOwnerId === suzuki!.id)
        .map((r) => r.externalRef)
        .sort(),
    ).toEqual(['LM-0001', 'LM-0002']);

    const before = await snapshot();
    const again = await post(program.id, sample);
    expect(again.json()).toMatchObject({ created: 0, updated: 0, unchanged: 6, ownersCreated: 0, ownersUpdated: 0, domainsAdded: 0, written: false });
    expect(await snapshot()).toEqual(before);
  });

  it('reads a Shift_JIS (CP932) file with Japanese names, detected or named', async () => {
    const sjis = iconv.encode(
      `${header}SJ-1,株式会社髙橋①商会,takahashi.example.jp,yamada@example.co.jp,山田 太郎,法人営業３部,contacted,2022/9/1\r\n`,
      'cp932',
    );
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(sjis)).toThrow();
    for (const query of ['', '?encoding=shift_jis']) {
      const program = await makeProgram(t.db);
      const res = await post(program.id, sjis, query);
      expect(res.statusCode, query).toBe(200);
      const [row] = await t.db.select().from(customers).where(eq(customers.programId, program.id));
      expect(row).toMatchObject({ name: '株式会社髙橋①商会', plannedMigrationAt: '2022-09-01' });
    }
    const [owner] = await t.db.select().from(salesOwners).where(eq(salesOwners.email, 'yamada@example.co.jp'));
    expect(owner).toMatchObject({ name: '山田 太郎', department: '法人営業３部' });
  });

  it('reads UTF-8 with a BOM, and refuses a file that is not valid in the encoding named', async () => {
    const program = await makeProgram(t.db);
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${header}BOM-1,ボム株式会社,bom.example.jp,bom@example.co.jp,ボム,営業,,\n`)]);
    expect((await post(program.id, bom)).json()).toMatchObject({ created: 1, errors: [] });
    const sjis = iconv.encode(`${header}X-1,日本語,x.example.jp,x@example.co.jp,x,y,,\n`, 'cp932');
    const res = await post(program.id, sjis, '?encoding=utf-8');
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].message).toMatch(/not valid UTF-8/);
  });

  it('writes nothing when any row is bad, and names every bad line and column', async () => {
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    const taken = await makeCustomer(t.db, program.id, owner.id, { externalRef: 'OTHER' });
    await makeDomain(t.db, taken, { name: 'taken.example.jp', displayName: 'taken.example.jp' });
    const csv =
      header +
      'OK-1,良い会社,ok.example.jp,ok@example.co.jp,OK,営業,,\n' +
      'BAD-2,,bad.example.jp,ok@example.co.jp,,,,\n' +
      'BAD-3,会社,192.0.2.1,not-an-email,,,,\n' +
      'OK-1,重複,dup.example.jp,ok@example.co.jp,,,,\n' +
      'BAD-5,会社,taken.example.jp,ok@example.co.jp,,,shipped,2022/02/30\n' +
      'BAD-6,会社,new.example.jp,nobody@example.co.jp,,,,\n' +
      'BAD-7,会社,ok.example.jp,ok@example.co.jp,,,completed,\n';
    const before = await snapshot();
    const res = await post(program.id, csv);
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body.code).toBe('APP_IMPORT_INVALID');
    const found = body.errors.map((e: { line: number; column: string | null }) => `${e.line}:${e.column}`);
    expect(found).toEqual(
      expect.arrayContaining([
        '3:customer_name',
        '4:domains',
        '4:sales_owner_email',
        '5:external_ref',
        '6:status',
        '6:planned_migration_at',
        '7:sales_owner_name',
        '7:department',
        '8:domains',
      ]),
    );
    expect(body.errors[0].path).toMatch(/^line \d+, column /);
    expect(await snapshot()).toEqual(before);

    // taken.example.jp belongs to another customer: reported once the row is otherwise valid.
    const claim = await post(program.id, `${header}NEW-1,会社,taken.example.jp,ok2@example.co.jp,OK,営業,,\n`);
    expect(claim.json().errors).toEqual([
      { path: 'line 2, column domains', line: 2, column: 'domains', message: expect.stringMatching(/already belongs to another customer/) },
    ]);
  });

  it('reports without writing on a dry run, and writes the valid rows when told not to be all-or-nothing', async () => {
    const program = await makeProgram(t.db);
    const csv = `${header}P-1,一社,p1.example.jp,p@example.co.jp,P,営業,,\nP-2,,p2.example.jp,p@example.co.jp,,,,\nP-3,三社,p3.example.jp,p@example.co.jp,,,,\n`;
    const before = await snapshot();
    const dry = await post(program.id, csv, '?dryRun=true');
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({ created: 2, dryRun: true, written: false, errors: [{ line: 3, column: 'customer_name' }] });
    expect(await snapshot()).toEqual(before);
    const partial = await post(program.id, csv, '?allOrNothing=false');
    expect(partial.statusCode).toBe(200);
    expect(partial.json()).toMatchObject({ created: 2, written: true, errors: [{ line: 3 }] });
    expect((await t.db.select().from(customers).where(eq(customers.programId, program.id))).map((c) => c.externalRef).sort()).toEqual(['P-1', 'P-3']);
  });

  it('updates existing customers: name, owner, planned date, a legal status move and new domains', async () => {
    const program = await makeProgram(t.db);
    await post(program.id, `${header}U-1,旧社名,u1.example.jp,u@example.co.jp,U,営業,contacted,2022/06/01\n`);
    const res = await post(program.id, `${header}U-1,新社名,u1.example.jp;u1b.example.jp,v@example.co.jp,V,営業,planned,2022/07/01\n`);
    expect(res.json()).toMatchObject({ created: 0, updated: 1, unchanged: 0, ownersCreated: 1, domainsAdded: 1 });
    const [row] = await t.db.select().from(customers).where(eq(customers.programId, program.id));
    const [v] = await t.db.select().from(salesOwners).where(eq(salesOwners.email, 'v@example.co.jp'));
    expect(row).toMatchObject({ name: '新社名', status: 'planned', plannedMigrationAt: '2022-07-01', salesOwnerId: v!.id, version: 2 });
    const events = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, row!.id)).orderBy(statusEvents.id);
    expect(events.map((e) => e.toStatus)).toEqual(['contacted', 'planned']);
    const backwards = await post(program.id, `${header}U-1,新社名,,v@example.co.jp,,,contacted,\n`);
    expect(backwards.statusCode).toBe(422);
    expect(backwards.json().errors[0]).toMatchObject({ line: 2, column: 'status', message: expect.stringMatching(/planned → contacted/) });
  });

  it('sets each owner\u2019s manager from manager_email: an existing owner, or one an earlier line creates; re-importing changes nothing', async () => {
    const program = await makeProgram(t.db);
    const u = randomBytes(3).toString('hex');
    const boss = await makeSalesOwner(t.db, { email: `boss-${u}@example.jp`, department: 'D1' });
    const rep = await makeSalesOwner(t.db, { email: `rep-${u}@example.jp`, department: 'D1' });
    const withManager = 'external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department,manager_email\n';
    const csv =
      withManager +
      `MG-1,一社,mg1-${u}.example.jp,new-${u}@example.jp,New,D1,BOSS-${u}@example.jp\n` +
      `MG-2,二社,,lead-${u}@example.jp,Lead,D1,\n` +
      `MG-3,三社,,junior-${u}@example.jp,Junior,D1,lead-${u}@example.jp\n` +
      `MG-4,四社,,rep-${u}@example.jp,,,boss-${u}@example.jp\n`;
    const res = await post(program.id, csv);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ created: 4, ownersCreated: 3, ownersUpdated: 1, errors: [] });
    const owners = await t.db
      .select()
      .from(salesOwners)
      .where(sql`${salesOwners.email} LIKE ${`%-${u}@example.jp`}`);
    const id = (prefix: string) => owners.find((o) => o.email === `${prefix}-${u}@example.jp`)!;
    expect(
      ['new', 'lead', 'junior', 'rep', 'boss'].map((p) => [p, owners.find((o) => o.id === id(p).managerId)?.email.split('-')[0] ?? null, id(p).version]),
    ).toEqual([
      ['new', 'boss', 1],
      ['lead', null, 1],
      ['junior', 'lead', 1],
      ['rep', 'boss', 2],
      ['boss', null, 1],
    ]);
    expect(rep.managerId).toBeNull();
    expect(boss.managerId).toBeNull();

    const before = await snapshot();
    expect((await post(program.id, csv)).json()).toMatchObject({ unchanged: 4, ownersCreated: 0, ownersUpdated: 0, written: false });
    expect(await snapshot()).toEqual(before);
  });

  it('makes an unknown, later-created, inactive, disagreeing, own or circular manager_email an error of its line, in the dry run too', async () => {
    const program = await makeProgram(t.db);
    const u = randomBytes(3).toString('hex');
    await makeSalesOwner(t.db, { email: `gone-${u}@example.jp`, active: false });
    const top = await makeSalesOwner(t.db, { email: `top-${u}@example.jp` });
    await makeSalesOwner(t.db, { email: `mid-${u}@example.jp`, managerId: top.id });
    const csv =
      'external_ref,customer_name,sales_owner_email,sales_owner_name,department,manager_email\n' +
      `E-2,会社,a-${u}@example.jp,A,D1,nobody-${u}@example.jp\n` +
      `E-3,会社,b-${u}@example.jp,B,D1,later-${u}@example.jp\n` +
      `E-4,会社,later-${u}@example.jp,Later,D1,\n` +
      `E-5,会社,c-${u}@example.jp,C,D1,gone-${u}@example.jp\n` +
      `E-6,会社,d-${u}@example.jp,D,D1,top-${u}@example.jp\n` +
      `E-7,会社,d-${u}@example.jp,,,later-${u}@example.jp\n` +
      `E-8,会社,e-${u}@example.jp,E,D1,e-${u}@example.jp\n` +
      `E-9,会社,top-${u}@example.jp,,,mid-${u}@example.jp\n` +
      `E-10,会社,f-${u}@example.jp,F,D1,not-an-email\n`;
    const before = await snapshot();
    for (const query of ['', '?dryRun=true']) {
      const res = await post(program.id, csv, query);
      const errors = res.json().errors as { line: number; column: string; message: string }[];
      expect(
        errors.map((e) => [e.line, e.column]),
        query,
      ).toEqual([2, 3, 5, 7, 8, 9, 10].map((line) => [line, 'manager_email']));
      expect(errors.map((e) => e.message)).toEqual([
        expect.stringMatching(/is not a sales owner/),
        expect.stringMatching(/is not a sales owner .* on an earlier line/),
        expect.stringMatching(/is an inactive sales owner/),
        expect.stringMatching(/disagrees with line 6/),
        expect.stringMatching(/cannot be their own manager/),
        expect.stringMatching(/management cycle/),
        expect.stringMatching(/is not an email address/),
      ]);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('gives each customer its technical contact from contact_* columns unless it has that email; re-importing adds none', async () => {
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    const known = await makeCustomer(t.db, program.id, owner.id, { externalRef: 'K-1', name: '既存一社' });
    const bare = await makeCustomer(t.db, program.id, owner.id, { externalRef: 'K-2', name: '既存二社' });
    await t.db.insert(customerContacts).values({ customerId: known.id, name: '既存', email: 'Tech@Example.JP', role: 'business' });
    const csv =
      contactHeader +
      `N-1,新一社,,${owner.email},,,山田 太郎,Yamada@Example.jp,\n` +
      `N-2,New Two,,${owner.email},,,Jane Roe,jane@example.com,EN\n` +
      `N-3,新三社,,${owner.email},,,,,\n` +
      `K-1,既存一社,,${owner.email},,,別名,tech@example.jp,ja\n` +
      `K-2,既存二社,,${owner.email},,,佐藤,sato@example.jp,en\n`;
    const res = await post(program.id, csv);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ created: 3, updated: 1, unchanged: 1, contactsAdded: 3, errors: [], written: true });
    const contacts = await t.db
      .select()
      .from(customerContacts)
      .innerJoin(customers, eq(customers.id, customerContacts.customerId))
      .where(eq(customers.programId, program.id));
    expect(
      contacts.map(({ customers: c, customer_contacts: p }) => [c.externalRef, p.name, p.email, p.role, p.language]).sort((a, b) => a[0]!.localeCompare(b[0]!)),
    ).toEqual([
      ['K-1', '既存', 'Tech@Example.JP', 'business', 'ja'],
      ['K-2', '佐藤', 'sato@example.jp', 'technical', 'en'],
      ['N-1', '山田 太郎', 'yamada@example.jp', 'technical', 'ja'],
      ['N-2', 'Jane Roe', 'jane@example.com', 'technical', 'en'],
    ]);
    // A contact is not the customer's own data: K-2 keeps its version, as with POST …/contacts.
    expect((await t.db.select().from(customers).where(eq(customers.id, bare.id)))[0]!.version).toBe(1);
    const audited = await t.db.select().from(auditLog).where(eq(auditLog.action, 'contact.create'));
    const added = new Set(contacts.map((c) => c.customer_contacts.id));
    expect(audited.filter((a) => added.has(a.entityId))).toHaveLength(3);

    const before = await snapshot();
    const again = await post(program.id, csv);
    expect(again.json()).toMatchObject({ created: 0, updated: 0, unchanged: 5, contactsAdded: 0, written: false });
    expect(await snapshot()).toEqual(before);
  });

  it('makes a bad contact cell an error of its line and column; a dry run counts contacts and writes none', async () => {
    const program = await makeProgram(t.db);
    const bad =
      contactHeader +
      'B-2,会社,,b@example.co.jp,B,営業,山田,not-an-email,\n' +
      'B-3,会社,,b@example.co.jp,,,山田,y@example.jp,fr\n' +
      'B-4,会社,,b@example.co.jp,,,,y@example.jp,\n' +
      'B-5,会社,,b@example.co.jp,,,山田,,ja\n' +
      'B-6,会社,,b@example.co.jp,,,,,en\n' +
      'B-7,会社,,b@example.co.jp,B,営業,山田,y@example.jp,\n';
    const before = await snapshot();
    const res = await post(program.id, bad);
    expect(res.statusCode).toBe(422);
    expect(res.json().errors.map((e: { line: number; column: string }) => `${e.line}:${e.column}`)).toEqual([
      '2:contact_email',
      '3:contact_language',
      '4:contact_name',
      '5:contact_email',
      '6:contact_name',
      '6:contact_email',
    ]);
    expect(res.json().errors[0]).toMatchObject({ path: 'line 2, column contact_email', message: expect.stringMatching(/is not an email address/) });
    expect(res.json().import).toMatchObject({ created: 1, contactsAdded: 1, written: false });
    expect(await snapshot()).toEqual(before);

    const good = contactHeader + 'D-1,会社,,d@example.co.jp,D,営業,山田,y@example.jp,\nD-2,会社,,d@example.co.jp,,,Roe,r@example.com,en\n';
    const dry = await post(program.id, good, '?dryRun=true');
    expect(dry.json()).toMatchObject({ created: 2, contactsAdded: 2, dryRun: true, written: false, errors: [] });
    expect(await snapshot()).toEqual(before);
  });

  it('refreshes the planner statistics of the tables it filled after a large import, not after a small one', async () => {
    const lastAnalyze = async () =>
      rowsOf<{ at: string | null }>(await t.db.execute(sql`SELECT last_analyze AS at FROM pg_stat_user_tables WHERE relname = 'domains'`))[0]!.at;
    const rows = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => `${prefix}${i},C${i},${prefix.toLowerCase()}${i}.example.jp,o@example.co.jp,O,D,,`).join('\n');
    const small = await post((await makeProgram(t.db)).id, header + rows(10, 'S'));
    expect(small.json()).toMatchObject({ created: 10, written: true });
    expect(await lastAnalyze()).toBeNull();
    // 600 customers and 600 domains: over the 1,000 new rows that call for it.
    const large = await post((await makeProgram(t.db)).id, header + rows(600, 'L'));
    expect(large.json()).toMatchObject({ created: 600, domainsAdded: 600, written: true });
    expect(await lastAnalyze()).not.toBeNull();
  });

  it('refuses non-admins, other content types, a bad header, an unknown program and an oversized file', async () => {
    const program = await makeProgram(t.db);
    const manager = (await makeToken(t.db, 'manager', { department: '営業' })).token;
    expect((await post(program.id, sample, '', manager)).statusCode).toBe(403);
    expect((await post(program.id, '{"a":1}', '', admin, 'application/json')).statusCode).toBe(415);
    const badHeader = await post(program.id, 'ref,name\nA,B\n');
    expect(badHeader.statusCode).toBe(422);
    expect(badHeader.json().errors.map((e: { column: string | null }) => e.column)).toEqual(
      expect.arrayContaining(['external_ref', 'customer_name', 'sales_owner_email']),
    );
    expect((await post('6f1c1b2e-0000-4000-8000-000000000000', sample)).statusCode).toBe(404);
    const big = await post(program.id, header + 'X,'.repeat(40_000));
    expect(big.statusCode).toBe(413);
    expect((await post(program.id, sample, '?encoding=ebcdic')).json().errors[0].path).toBe('query.encoding');
  });
});

describe('parseCsvDate', () => {
  it.each([
    ['2022-09-30', '2022-09-30'],
    ['2022/9/1', '2022-09-01'],
    ['2024/02/29', '2024-02-29'],
    ['2022/02/29', undefined],
    ['2022-13-01', undefined],
    ['30/09/2022', undefined],
  ])('%s → %s', (input, expected) => expect(parseCsvDate(input)).toBe(expected));
});
