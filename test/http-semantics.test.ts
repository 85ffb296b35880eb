import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/*
 * HTTP semantics clients rely on (RFC 9110): If-Match compares strong ETags only; a GET whose ETag the
 * client already has (If-None-Match) is a 304 without a body; a 201 says where the new resource is,
 * and that address answers a GET.
 */

let t: TestApp;
let admin: string;
beforeAll(async () => {
  t = await buildTestApp();
  admin = (await makeToken(t.db, 'admin')).token;
});
afterAll(() => t.close());

const call = (method: 'GET' | 'POST' | 'PATCH' | 'HEAD', url: string, headers: Record<string, string> = {}, body?: object) =>
  t.app.inject({ method, url, headers: { authorization: `Bearer ${admin}`, ...headers }, ...(body ? { payload: body } : {}) });

describe('If-Match', () => {
  it('compares strong ETags only: a weak one matches nothing (412), the strong one of the same version is taken', async () => {
    const program = await makeProgram(t.db);
    const c = await makeCustomer(t.db, program.id, (await makeSalesOwner(t.db)).id);
    const weak = await call('PATCH', `/v1/customers/${c.id}`, { 'if-match': 'W/"1"' }, { notes: 'weak' });
    expect(weak.statusCode).toBe(412);
    expect(weak.json()).toMatchObject({ code: 'APP_WEAK_IF_MATCH', detail: expect.stringContaining('"1"') });
    const strong = await call('PATCH', `/v1/customers/${c.id}`, { 'if-match': '"1"' }, { notes: 'strong' });
    expect(strong.statusCode).toBe(200);
    expect(strong.headers.etag).toBe('"2"');
    expect(strong.json().notes).toBe('strong');
  });
});

describe('If-None-Match', () => {
  it('answers a GET or HEAD 304 without a body when the client has the current ETag, 200 once it changed', async () => {
    const program = await makeProgram(t.db);
    const c = await makeCustomer(t.db, program.id, (await makeSalesOwner(t.db)).id);
    for (const url of [`/v1/customers/${c.id}`, `/v1/programs/${program.id}`, `/v1/sales-owners/${c.salesOwnerId}`]) {
      const first = await call('GET', url);
      const etag = first.headers.etag as string;
      expect(etag, url).toMatch(/^"\d+"$/);
      for (const header of [etag, `W/${etag}`, `"999", ${etag}`, '*']) {
        const again = await call('GET', url, { 'if-none-match': header });
        expect(again.statusCode, `${url} ${header}`).toBe(304);
        expect(again.body).toBe('');
        expect(again.headers.etag).toBe(etag);
      }
      expect((await call('HEAD', url, { 'if-none-match': etag })).statusCode).toBe(304);
      expect((await call('GET', url, { 'if-none-match': '"999"' })).statusCode).toBe(200);
    }
    await call('PATCH', `/v1/customers/${c.id}`, { 'if-match': '"1"' }, { notes: 'changed' });
    const changed = await call('GET', `/v1/customers/${c.id}`, { 'if-none-match': '"1"' });
    expect(changed.statusCode).toBe(200);
    expect(changed.json().notes).toBe('changed');
  });
});

describe('201 Created', () => {
  it('carries a Location that answers a GET with what was made, for every kind of resource', async () => {
    const program = (
      await call(
        'POST',
        '/v1/programs',
        {},
        { name: 'Semantics', legacyService: 'L', successorService: 'S', legacy: { spfIncludes: ['spf.po.2iij.net'] }, shutdownAt: '2030-09-30' },
      )
    ).json();
    const owner = (await call('POST', '/v1/sales-owners', {}, { name: 'Owner', email: `o-${Date.now()}@example.jp`, department: 'D' })).json();
    const creations: { url: string; body: object }[] = [
      {
        url: '/v1/programs',
        body: { name: 'Another', legacyService: 'L', successorService: 'S', legacy: { spfIncludes: ['spf.po.2iij.net'] }, shutdownAt: '2030-09-30' },
      },
      { url: '/v1/sales-owners', body: { name: 'Second', email: `s-${Date.now()}@example.jp`, department: 'D' } },
      { url: '/v1/customers', body: { programId: program.id, externalRef: `SEM-${Date.now()}`, name: 'Sem KK', salesOwnerId: owner.id } },
      { url: '/v1/tokens', body: { name: 'sem', role: 'admin' } },
    ];
    const customer = (
      await call('POST', '/v1/customers', {}, { programId: program.id, externalRef: `SEM0-${Date.now()}`, name: 'Sem0', salesOwnerId: owner.id })
    ).json();
    creations.push(
      { url: `/v1/customers/${customer.id}/domains`, body: { name: `sem-${Date.now()}.example.jp` } },
      { url: `/v1/customers/${customer.id}/contacts`, body: { name: 'Tech', email: 'tech@sem.example', role: 'technical' } },
      { url: `/v1/customers/${customer.id}/contacts/events`, body: { kind: 'note', summary: 'semantics' } },
      { url: `/v1/customers/${customer.id}/self-check-links`, body: {} },
    );
    for (const { url, body } of creations) {
      const res = await call('POST', url, {}, body);
      expect(res.statusCode, url).toBe(201);
      const location = res.headers.location as string;
      expect(location, url).toMatch(/^\/v1\//);
      const got = await call('GET', location);
      expect(got.statusCode, `${url} → ${location}`).toBe(200);
      const made = res.json();
      const shown = got.json();
      // The Location is the resource itself, or (for a log entry) the list holding it.
      expect(shown.id === made.id || (shown.items as { id: string }[] | undefined)?.some((i) => i.id === made.id), `${url} → ${location}`).toBe(true);
    }
  });
});
