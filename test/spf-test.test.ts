import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from '../src/dns/resolver.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { TestDnsServer } from './helpers/dns-server.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/** GET /v1/domains/{id}/spf-test: support staff asking "will mail from this server still pass?". */
let server: TestDnsServer;
let t: TestApp;
let domainId: string;
let foreignDomainId: string;
let sales: { authorization: string };

beforeAll(async () => {
  server = await TestDnsServer.start();
  server.set('spf.po.2iij.net', { records: [{ type: 'TXT', data: 'v=spf1 ip4:210.130.0.0/16 -all' }] });
  server.set('spf.gateway.example', { records: [{ type: 'TXT', data: 'v=spf1 ip4:203.0.113.0/24 ~all' }] });
  server.set('support.example.jp', { records: [{ type: 'TXT', data: 'v=spf1 include:_spf.support.example.jp include:spf.gateway.example -all' }] });
  server.set('_spf.support.example.jp', { records: [{ type: 'CNAME', data: 'spf.po.2iij.net' }] });
  t = await buildTestApp({ dns: createResolver({ servers: [server.address], timeoutMs: 500, tries: 1 }) });
  const program = await makeProgram(t.db, { successorSpfIncludes: ['spf.gateway.example'] });
  const owner = await makeSalesOwner(t.db);
  const other = await makeSalesOwner(t.db);
  const customer = await makeCustomer(t.db, program.id, owner.id);
  domainId = (await makeDomain(t.db, customer, { name: 'support.example.jp', displayName: 'support.example.jp' })).id;
  foreignDomainId = (await makeDomain(t.db, await makeCustomer(t.db, program.id, other.id))).id;
  sales = (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).auth;
});
afterAll(async () => {
  await t.close();
  await server.close();
});

const ask = (query: string, id = domainId) => t.app.inject({ method: 'GET', url: `/v1/domains/${id}/spf-test?${query}`, headers: sales });

describe('GET /v1/domains/{id}/spf-test', () => {
  it('answers for a legacy server: pass today through the CNAME, permerror once the legacy record is deleted', async () => {
    const res = await ask('ip=210.130.1.1');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ domain: 'support.example.jp', ip: '210.130.1.1', sender: 'postmaster@support.example.jp', helo: 'support.example.jp' });
    expect(body.today).toMatchObject({ result: 'pass', lookups: 1 });
    expect(body.today.terms[0]).toMatchObject({ path: ['support.example.jp'], term: 'include:_spf.support.example.jp', outcome: 'followed' });
    expect(body.afterDeletion).toMatchObject({ result: 'permerror' });
    expect(body.afterDeletion.reason).toContain('_spf.support.example.jp');
  });

  it('answers for a successor server: it reaches the dangling include first, so it breaks too', async () => {
    const body = (await ask('ip=203.0.113.25&sender=info@support.example.jp&helo=mail.example.net')).json();
    expect(body).toMatchObject({ sender: 'info@support.example.jp', helo: 'mail.example.net' });
    expect(body.today.result).toBe('pass');
    expect(body.afterDeletion.result).toBe('permerror');
  });

  it('refuses a bad address, a sender with spaces or a NUL, naming the field', async () => {
    for (const query of ['ip=not-an-ip', 'ip=192.0.2.1&sender=a%20b@x.jp', 'ip=192.0.2.1&helo=a%00b', '']) {
      const res = await ask(query);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(JSON.stringify(res.json().errors)).toMatch(/query\.(ip|sender|helo)/);
    }
  });

  it('answers 404 for a domain outside the token\u2019s scope', async () => {
    expect((await ask('ip=192.0.2.1', foreignDomainId)).statusCode).toBe(404);
  });
});
