import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerContacts } from '../db/schema/index.ts';
import { probeDomain } from '../src/probes/probe-service.ts';
import { csvCell } from '../src/http/csv.ts';
import { createResolver } from '../src/dns/resolver.ts';
import { apiClient } from './helpers/api.ts';
import { buildTestApp, testLogger, type TestApp } from './helpers/build-test-app.ts';
import { TestDnsServer, type ZoneRecord } from './helpers/dns-server.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

let server: TestDnsServer;
let t: TestApp;
let call: ReturnType<typeof apiClient>;
let program: { id: string };
let admin: string;
let salesA: string;
const legacy: ZoneRecord[] = [
  { type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net -all' },
  { type: 'MX', data: [10, 'in.mx.gateway.example'] },
];

beforeAll(async () => {
  server = await TestDnsServer.start();
  server.set('spf.po.2iij.net', { records: [{ type: 'TXT', data: 'v=spf1 ip4:210.130.0.0/16 -all' }] });
  server.set('spf.gateway.example', { records: [{ type: 'TXT', data: 'v=spf1 ip4:203.0.113.0/24 ~all' }] });
  const dmarc = (name: string, p: string) => server.set(`_dmarc.${name}`, { records: [{ type: 'TXT', data: `v=DMARC1; p=${p}` }] });
  for (const name of ['r1.example.jp', 'r2.example.jp', 'r3.example.jp', 'r4.example.jp']) server.set(name, { records: legacy });
  server.set('clean.example.jp', {
    records: [
      { type: 'TXT', data: 'v=spf1 include:spf.gateway.example -all' },
      { type: 'MX', data: [10, 'in.mx.gateway.example'] },
    ],
  });
  server.set('dead.example.jp', { records: [{ type: 'TXT', data: 'v=spf1 -all include:spf.po.2iij.net' }] });
  dmarc('r1.example.jp', 'reject');
  dmarc('r3.example.jp', 'quarantine');
  dmarc('r4.example.jp', 'reject');
  const dns = createResolver({ servers: [server.address], timeoutMs: 300, tries: 1 });
  t = await buildTestApp({ dns });
  call = apiClient(t.app);
  program = await makeProgram(t.db, {
    legacySpfIncludes: ['spf.po.2iij.net'],
    legacyMxHostSuffixes: ['po.2iij.net'],
    successorSpfIncludes: ['spf.gateway.example'],
  });
  const a = await makeSalesOwner(t.db, { name: '鈴木', department: '営業1部' });
  const b = await makeSalesOwner(t.db, { name: '田中', department: '営業2部' });
  admin = (await makeToken(t.db, 'admin')).token;
  salesA = (await makeToken(t.db, 'sales', { salesOwnerId: a.id })).token;
  const place = async (owner: { id: string }, customerName: string, names: string[]) => {
    const c = await makeCustomer(t.db, program.id, owner.id, { name: customerName });
    for (const name of names) {
      const d = await makeDomain(t.db, c, { name, displayName: name });
      await probeDomain({ db: t.db, dns, now: () => new Date(), log: testLogger() }, d.id, 'cli');
    }
  };
  await place(a, '=HYPERLINK("http://evil.example","click")', ['r1.example.jp', 'clean.example.jp']);
  await place(a, '株式会社 みなと, 本社', ['r2.example.jp', 'r3.example.jp', 'dead.example.jp']);
  await place(b, 'Other Dept Ltd', ['r4.example.jp']);
});
afterAll(async () => {
  await t.close();
  await server.close();
});

describe('the blast radius', () => {
  it('lists the domains that break at deletion, DMARC reject first, with owner and suggested record', async () => {
    const res = await call('GET', `/v1/programs/${program.id}/blast-radius`, admin);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.total).toBe(4);
    expect(body.items.map((i: { domain: string; dmarcPolicy: string | null }) => [i.domain, i.dmarcPolicy])).toEqual([
      ['r1.example.jp', 'reject'],
      ['r4.example.jp', 'reject'],
      ['r3.example.jp', 'quarantine'],
      ['r2.example.jp', null],
    ]);
    expect(body.items[0]).toMatchObject({ salesOwnerName: '鈴木', department: '営業1部', suggestedRecord: 'v=spf1 include:spf.gateway.example -all' });
  });

  it('shows a sales token only its own domains, and pages with a cursor', async () => {
    const mine = await call('GET', `/v1/programs/${program.id}/blast-radius`, salesA);
    expect(mine.json().total).toBe(3);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call('GET', `/v1/programs/${program.id}/blast-radius?limit=1${cursor ? `&cursor=${cursor}` : ''}`, admin);
      seen.push(...page.json().items.map((i: { domain: string }) => i.domain));
      cursor = page.json().nextCursor;
    } while (cursor);
    expect(seen).toEqual(['r1.example.jp', 'r4.example.jp', 'r3.example.jp', 'r2.example.jp']);
    expect((await call('GET', '/v1/programs/6f1c1b2e-0000-4000-8000-000000000000/blast-radius', admin)).statusCode).toBe(404);
  });

  it('exports as CSV: UTF-8 BOM, CRLF, quoted cells, formulas neutralized', async () => {
    const res = await call('GET', `/v1/programs/${program.id}/blast-radius.csv`, admin);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="blast-radius.csv"');
    expect(res.body.startsWith('\uFEFFdomain,dmarc_policy,customer,')).toBe(true);
    const lines = res.body.slice(1).split('\r\n');
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(/^r1\.example\.jp,reject,"'=HYPERLINK\(""http:\/\/evil\.example"",""click""\)",/);
    expect(lines[4]).toMatch(/^r2\.example\.jp,no DMARC,"株式会社 みなと, 本社",/);
    const plain = await call('GET', `/v1/programs/${program.id}/blast-radius.csv?bom=false`, admin);
    expect(plain.body.startsWith('domain,')).toBe(true);
  });
});

describe('the blast radius by impact', () => {
  it('lists DMARC reject without a successor DKIM key first, then reject with one, quarantine likewise, then none and no DMARC', async () => {
    const p = await makeProgram(t.db, { legacySpfIncludes: ['spf.po.2iij.net'] });
    const c = await makeCustomer(t.db, p.id, (await makeSalesOwner(t.db)).id);
    const add = (name: string, dmarcPolicy: string | null, successorDkim: boolean | null, breaksAtDeletion = true) =>
      makeDomain(t.db, c, { name, displayName: name, dmarcPolicy, successorDkim, breaksAtDeletion, latestVerdict: 'needs_spf_cleanup' });
    await add('a-reject-key.example.jp', 'reject', true);
    await add('b-none.example.jp', 'none', false);
    await add('c-quarantine-key.example.jp', 'quarantine', true);
    await add('d-reject-unknown.example.jp', 'reject', null);
    await add('e-no-dmarc-key.example.jp', null, true);
    await add('f-quarantine.example.jp', 'quarantine', false);
    await add('g-reject.example.jp', 'reject', false);
    await add('h-clean-reject.example.jp', 'reject', false, false);
    const res = await call('GET', `/v1/programs/${p.id}/blast-radius`, admin);
    expect(
      res.json().items.map((i: { domain: string; dmarcPolicy: string | null; successorDkim: boolean | null }) => [i.domain, i.dmarcPolicy, i.successorDkim]),
    ).toEqual([
      ['d-reject-unknown.example.jp', 'reject', null],
      ['g-reject.example.jp', 'reject', false],
      ['a-reject-key.example.jp', 'reject', true],
      ['f-quarantine.example.jp', 'quarantine', false],
      ['c-quarantine-key.example.jp', 'quarantine', true],
      ['b-none.example.jp', 'none', false],
      ['e-no-dmarc-key.example.jp', null, true],
    ]);
    // The cursor carries the rank: paging one by one sees the same order.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call('GET', `/v1/programs/${p.id}/blast-radius?limit=2${cursor ? `&cursor=${cursor}` : ''}`, admin);
      seen.push(...page.json().items.map((i: { domain: string }) => i.domain));
      cursor = page.json().nextCursor;
    } while (cursor);
    expect(seen).toEqual(res.json().items.map((i: { domain: string }) => i.domain));
    const csv = (await call('GET', `/v1/programs/${p.id}/blast-radius.csv?bom=false`, admin)).body.split('\r\n');
    expect(csv[0]!.endsWith(',last_verified_at,successor_dkim_key')).toBe(true);
    expect(csv.slice(1, 4).map((l) => l.split(',').at(-1))).toEqual(['unknown', 'none', 'published']);
  });
});

describe('the customers export', () => {
  it('streams every customer the token may see, with the list filters', async () => {
    const all = await call('GET', `/v1/customers.csv?programId=${program.id}`, admin);
    expect(all.body.slice(1).trim().split('\r\n')).toHaveLength(4);
    const mine = await call('GET', `/v1/customers.csv?programId=${program.id}`, salesA);
    const rows = mine.body.slice(1).trim().split('\r\n');
    expect(rows).toHaveLength(3);
    expect(rows.join('\n')).not.toContain('Other Dept Ltd');
    const minato = rows.find((r) => r.includes('"株式会社 みなと, 本社"'))!;
    expect(minato).toContain(',dead.example.jp r2.example.jp r3.example.jp,');
    // dead.example.jp still names the legacy include (after -all): it needs clean-up, yet is not in the blast radius.
    expect(minato).toContain(',needs_spf_cleanup needs_spf_cleanup needs_spf_cleanup,');
    const filtered = await call('GET', `/v1/customers.csv?programId=${program.id}&q=other`, admin);
    expect(filtered.body.slice(1).trim().split('\r\n')).toHaveLength(2);
    expect((await call('GET', '/v1/customers.csv?status=nope', admin)).statusCode).toBe(400);
  });

  it('names each customer\u2019s technical contact, with the email (personal data) for an admin only', async () => {
    const p = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db, { department: '営業3部' });
    const c = await makeCustomer(t.db, p.id, owner.id, { externalRef: 'CT-1' });
    await makeCustomer(t.db, p.id, owner.id, { externalRef: 'CT-2' });
    await t.db.insert(customerContacts).values([
      { customerId: c.id, name: '社長', email: 'boss@ct.example.jp', role: 'business' },
      { customerId: c.id, name: '電話だけ', phone: '03-1234-5678', role: 'technical' },
      { customerId: c.id, name: '山田 太郎', email: 'yamada@ct.example.jp', role: 'technical' },
    ]);
    const tokens = {
      admin,
      manager: (await makeToken(t.db, 'manager', { department: '営業3部' })).token,
      sales: (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).token,
    };
    const seen: Record<string, string[][]> = {};
    for (const [role, token] of Object.entries(tokens)) {
      const res = await call('GET', `/v1/customers.csv?programId=${p.id}&bom=false`, token);
      expect(res.statusCode, role).toBe(200);
      const rows = parse(res.body, { columns: true }) as Record<string, string>[];
      seen[role] = rows.map((r) => [r.external_ref!, r.contact_name!, r.contact_email!]).sort((x, y) => x[0]!.localeCompare(y[0]!));
      expect(res.body, role).not.toContain('boss@ct.example.jp');
    }
    expect(seen).toEqual({
      admin: [
        ['CT-1', '山田 太郎', 'yamada@ct.example.jp'],
        ['CT-2', '', ''],
      ],
      manager: [
        ['CT-1', '山田 太郎', ''],
        ['CT-2', '', ''],
      ],
      sales: [
        ['CT-1', '山田 太郎', ''],
        ['CT-2', '', ''],
      ],
    });
  });
});

describe('csvCell', () => {
  it.each([
    ['plain', 'plain'],
    ['=1+1', "'=1+1"],
    ['+81-3-1234', "'+81-3-1234"],
    ['-all', "'-all"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tTAB', "'\tTAB"],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    [-30, '-30'],
    [null, ''],
  ])('%j → %s', (value, expected) => expect(csvCell(value)).toBe(expected));
});
