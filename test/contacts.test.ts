import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, customers, statusEvents } from '../db/schema/index.ts';
import { apiClient } from './helpers/api.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

let t: TestApp;
let call: ReturnType<typeof apiClient>;
let customerId: string;
let othersCustomerId: string;
let sales: string;
let otherSales: string;

beforeAll(async () => {
  t = await buildTestApp();
  call = apiClient(t.app);
  const program = await makeProgram(t.db);
  const a = await makeSalesOwner(t.db);
  const b = await makeSalesOwner(t.db);
  customerId = (await makeCustomer(t.db, program.id, a.id)).id;
  othersCustomerId = (await makeCustomer(t.db, program.id, b.id)).id;
  sales = (await makeToken(t.db, 'sales', { salesOwnerId: a.id })).token;
  otherSales = (await makeToken(t.db, 'sales', { salesOwnerId: b.id })).token;
});
afterAll(() => t.close());

describe('customer contacts', () => {
  it('are added, listed, changed with If-Match and removed by whoever may see the customer, each change audited in its history', async () => {
    const created = await call('POST', `/v1/customers/${customerId}/contacts`, sales, { name: '山田 太郎', email: 'Yamada@Sample.co.jp', role: 'technical' });
    expect(created.statusCode).toBe(201);
    const contact = created.json();
    expect(contact).toMatchObject({ customerId, name: '山田 太郎', email: 'yamada@sample.co.jp', phone: null, role: 'technical', language: 'ja', version: 1 });
    expect(created.headers.location).toBe(`/v1/contacts/${contact.id}`);
    expect(created.headers.etag).toBe('"1"');
    await call('POST', `/v1/customers/${customerId}/contacts`, sales, { name: 'Ann Lee', phone: '+81 3-1234-5678', role: 'business', language: 'en' });
    const list = (await call('GET', `/v1/customers/${customerId}/contacts`, sales)).json().items;
    expect(list.map((c: { role: string }) => c.role)).toEqual(['business', 'technical']);

    expect((await call('PATCH', `/v1/contacts/${contact.id}`, sales, { phone: '03-1234-5678' })).statusCode).toBe(428);
    expect((await call('PATCH', `/v1/contacts/${contact.id}`, sales, { phone: '03-1234-5678' }, { 'if-match': '"7"' })).statusCode).toBe(412);
    const changed = await call('PATCH', `/v1/contacts/${contact.id}`, sales, { phone: '03-1234-5678' }, { 'if-match': '"1"' });
    expect(changed.json()).toMatchObject({ phone: '03-1234-5678', version: 2 });
    // Both ways to reach them cannot go.
    const unreachable = await call('PATCH', `/v1/contacts/${contact.id}`, sales, { email: null, phone: null }, { 'if-match': '"2"' });
    expect(unreachable.statusCode).toBe(400);
    expect(unreachable.json().errors[0].path).toBe('body.email');

    expect((await call('DELETE', `/v1/contacts/${contact.id}`, sales)).statusCode).toBe(204);
    expect((await call('GET', `/v1/customers/${customerId}/contacts`, sales)).json().items).toHaveLength(1);
    const audits = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.entityType, 'contact'), eq(auditLog.entityId, contact.id)));
    expect(audits.map((a) => a.action)).toEqual(['contact.create', 'contact.update', 'contact.delete']);
    const history = (await call('GET', `/v1/customers/${customerId}/history`, sales)).json().items;
    expect(history.filter((h: { action?: string }) => h.action?.startsWith('contact.')).map((h: { action: string }) => h.action)).toEqual([
      'contact.delete',
      'contact.update',
      'contact.create',
      'contact.create',
    ]);
  });

  it('refuse a contact without an email or a phone, a bad email, phone, role or language, naming the field', async () => {
    const post = (body: object) => call('POST', `/v1/customers/${customerId}/contacts`, sales, { name: 'X', role: 'technical', ...body });
    expect((await post({})).json().errors[0].path).toBe('body.email');
    expect((await post({ email: 'not-an-email' })).json().errors[0].path).toBe('body.email');
    expect((await post({ phone: 'call me' })).json().errors[0].path).toBe('body.phone');
    expect((await post({ email: 'a@b.jp', role: 'boss' })).json().errors[0].path).toBe('body.role');
    expect((await post({ email: 'a@b.jp', language: 'fr' })).json().errors[0].path).toBe('body.language');
  });

  it('are personal data: another owner’s customer and its contacts do not exist for a sales token', async () => {
    const theirs = (await call('POST', `/v1/customers/${othersCustomerId}/contacts`, otherSales, { name: 'Theirs', email: 'x@y.jp', role: 'business' })).json();
    expect((await call('GET', `/v1/customers/${othersCustomerId}/contacts`, sales)).statusCode).toBe(404);
    expect((await call('POST', `/v1/customers/${othersCustomerId}/contacts`, sales, { name: 'Z', email: 'z@y.jp', role: 'business' })).statusCode).toBe(404);
    expect((await call('PATCH', `/v1/contacts/${theirs.id}`, sales, { name: 'Mine' }, { 'if-match': '"1"' })).statusCode).toBe(404);
    expect((await call('DELETE', `/v1/contacts/${theirs.id}`, sales)).statusCode).toBe(404);
    // Nor are they in the customer list or its CSV.
    const csv = await t.app.inject({ method: 'GET', url: '/v1/customers.csv', headers: { authorization: `Bearer ${otherSales}` } });
    expect(csv.body).not.toContain('x@y.jp');
  });

  it('keep a log: a call moves a not_contacted customer to contacted through the workflow, a note does not', async () => {
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    const c = await makeCustomer(t.db, program.id, owner.id, { status: 'not_contacted' });
    const rep = (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).token;
    const person = (await call('POST', `/v1/customers/${c.id}/contacts`, rep, { name: '佐藤', email: 'sato@example.jp', role: 'technical' })).json();
    const note = await call('POST', `/v1/customers/${c.id}/contacts/events`, rep, { kind: 'note', summary: '代表番号は不通' });
    expect(note.statusCode).toBe(201);
    expect((await t.db.select().from(customers).where(eq(customers.id, c.id)))[0]!.status).toBe('not_contacted');
    const logged = await call('POST', `/v1/customers/${c.id}/contacts/events`, rep, { kind: 'call', summary: '7/15 に切替と合意', contactId: person.id });
    expect(logged.statusCode).toBe(201);
    expect(logged.json()).toMatchObject({ kind: 'call', contactId: person.id, actor: expect.stringMatching(/^token:sales-/) });
    const [row] = await t.db.select().from(customers).where(eq(customers.id, c.id));
    expect(row).toMatchObject({ status: 'contacted', version: 2 });
    const [event] = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, c.id));
    expect(event).toMatchObject({ fromStatus: 'not_contacted', toStatus: 'contacted', note: 'call: 7/15 に切替と合意' });
    const log = (await call('GET', `/v1/customers/${c.id}/contacts/events`, rep)).json();
    expect(log.items.map((e: { kind: string }) => e.kind)).toEqual(['call', 'note']);
    // A second call changes nothing more.
    await call('POST', `/v1/customers/${c.id}/contacts/events`, rep, { kind: 'email', summary: '手順書を送付' });
    expect((await t.db.select().from(customers).where(eq(customers.id, c.id)))[0]!.version).toBe(2);
    const history = (await call('GET', `/v1/customers/${c.id}/history`, rep)).json().items;
    expect(history.filter((h: { action?: string }) => h.action === 'contact.event_logged')).toHaveLength(3);
  });

  it('a call summary of 2,000 characters becomes the status note cut between characters, never inside an emoji', async () => {
    const program = await makeProgram(t.db);
    const owner = await makeSalesOwner(t.db);
    const c = await makeCustomer(t.db, program.id, owner.id, { status: 'not_contacted' });
    const rep = (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).token;
    // "call: " and 1,992 x's put the emoji's two halves on either side of the note's limit.
    const summary = `${'x'.repeat(1992)}😀😀`;
    expect((await call('POST', `/v1/customers/${c.id}/contacts/events`, rep, { kind: 'call', summary })).statusCode).toBe(201);
    const [event] = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, c.id));
    expect(event!.note).toBe(`call: ${'x'.repeat(1992)}…`);
  });

  it('refuse a log entry with someone else’s contact, in the future, or for a customer out of sight', async () => {
    const theirs = (await call('POST', `/v1/customers/${othersCustomerId}/contacts`, otherSales, { name: 'T', email: 't@y.jp', role: 'business' })).json();
    const wrong = await call('POST', `/v1/customers/${customerId}/contacts/events`, sales, { kind: 'call', summary: 'x', contactId: theirs.id });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().errors[0].path).toBe('body.contactId');
    const future = await call('POST', `/v1/customers/${customerId}/contacts/events`, sales, { kind: 'call', summary: 'x', at: '2999-01-01T00:00:00Z' });
    expect(future.json().errors[0].path).toBe('body.at');
    expect((await call('POST', `/v1/customers/${othersCustomerId}/contacts/events`, sales, { kind: 'note', summary: 'x' })).statusCode).toBe(404);
    expect((await call('GET', `/v1/customers/${othersCustomerId}/contacts/events`, sales)).statusCode).toBe(404);
  });
});
