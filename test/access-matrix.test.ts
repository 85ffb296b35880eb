import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerContacts, imports, selfCheckLinks, tasks } from '../db/schema/index.ts';
import type { Access } from '../src/plugins/auth.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken, programBody } from './helpers/factories.ts';
import { startSession } from '../src/sessions/session-service.ts';

/**
 * Every protected route × role (admin, manager, sales) × a resource of one's own or another's × read
 * or write. The routes come from the app's route table; a route this file has no rule for fails the
 * first test, so a new route cannot ship without its visibility rule.
 *
 * Who may see what: a sales token its own customers, domains, tasks and itself; a manager those of
 * the sales owners in its department; an admin everything. Programs and their reports are shared
 * (reports count only what the viewer may see; readiness.test.ts checks the numbers).
 */
type Role = 'admin' | 'manager' | 'sales';
type Side = 'own' | 'other';
interface Req {
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}
type Rule =
  /** Not owned by anyone: the access level alone decides. */
  | { kind: 'shared'; access: Access; request: () => Promise<Req> | Req }
  /**
   * A resource (or, for creation, a target) that is the caller's own or another's. Another's is
   * refused with 403 or 404, or with a 400 naming the field when the body refers to it (an
   * invisible sales owner is answered exactly as one that does not exist).
   */
  | { kind: 'owned'; access: Access; request: (side: Side) => Promise<Req> | Req; refusedAt?: string }
  /** A list: one's own items appear in it, another's only for an admin. */
  | { kind: 'list'; access: Access; request: () => Req; marker: (side: Side) => string };

const allowed: Record<Access, Role[]> = { admin: ['admin'], manager: ['admin', 'manager'], any: ['admin', 'manager', 'sales'] };
const roles: Role[] = ['admin', 'manager', 'sales'];

let t: TestApp;
const token = {} as Record<Role, string>;
const f = {} as Record<Side, { owner: string; customer: string; ref: string; domain: string; task: string; department: string }>;
let programId: string;
const unique = () => randomBytes(4).toString('hex');
/** A new self-check link of the side's customer. */
const linkOf = async (side: Side) =>
  (
    await t.db
      .insert(selfCheckLinks)
      .values({ customerId: f[side].customer, tokenHash: unique(), createdAt: new Date(), createdBy: 'matrix', expiresAt: new Date(Date.now() + 86_400_000) })
      .returning()
  )[0]!.id;
/** A new contact of the side's customer. */
const contactOf = async (side: Side) =>
  (
    await t.db
      .insert(customerContacts)
      .values({ customerId: f[side].customer, name: 'Matrix', email: `c-${unique()}@example.jp`, role: 'business' })
      .returning()
  )[0]!.id;

beforeAll(async () => {
  t = await buildTestApp();
  programId = (await makeProgram(t.db)).id;
  for (const [side, department] of [
    ['own', 'D1'],
    ['other', 'D2'],
  ] as const) {
    const owner = await makeSalesOwner(t.db, { department });
    const customer = await makeCustomer(t.db, programId, owner.id);
    const domain = await makeDomain(t.db, customer);
    const [task] = await t.db
      .insert(tasks)
      .values({
        programId,
        customerId: customer.id,
        assigneeId: owner.id,
        kind: 'reminder',
        milestone: 'T-30',
        dedupeKey: `m-${side}`,
        title: 'call',
        dueAt: new Date(),
      })
      .returning();
    f[side] = { owner: owner.id, customer: customer.id, ref: customer.externalRef, domain: domain.id, task: task!.id, department };
  }
  token.admin = (await makeToken(t.db, 'admin')).token;
  token.manager = (await makeToken(t.db, 'manager', { department: 'D1' })).token;
  token.sales = (await makeToken(t.db, 'sales', { salesOwnerId: f.own.owner })).token;
});
afterAll(() => t.close());

const stale = { 'if-match': '"999"' }; // a write that passed visibility then answers 412
const rules: Record<string, Rule> = {
  'POST /v1/programs': { kind: 'shared', access: 'admin', request: () => ({ url: '/v1/programs', body: programBody() }) },
  'GET /v1/programs': { kind: 'shared', access: 'any', request: () => ({ url: '/v1/programs' }) },
  'GET /v1/programs/:id': { kind: 'shared', access: 'any', request: () => ({ url: `/v1/programs/${programId}` }) },
  'PATCH /v1/programs/:id': { kind: 'shared', access: 'admin', request: () => ({ url: `/v1/programs/${programId}`, body: { name: 'x' }, headers: stale }) },
  'POST /v1/programs/:id/imports': {
    kind: 'shared',
    access: 'admin',
    request: () => ({ url: `/v1/programs/${programId}/imports?dryRun=true`, body: 'external_ref,customer_name\n', headers: { 'content-type': 'text/csv' } }),
  },
  'GET /v1/imports/:id': {
    kind: 'shared',
    access: 'admin',
    request: async () => {
      const [done] = await t.db.insert(imports).values({ programId, state: 'done', dryRun: true, allOrNothing: true, actor: 'test' }).returning();
      return { url: `/v1/imports/${done!.id}` };
    },
  },
  'GET /v1/programs/:id/readiness': { kind: 'shared', access: 'any', request: () => ({ url: `/v1/programs/${programId}/readiness` }) },
  'GET /v1/programs/:id/readiness.csv': { kind: 'shared', access: 'any', request: () => ({ url: `/v1/programs/${programId}/readiness.csv` }) },
  'GET /v1/programs/:id/blast-radius': { kind: 'shared', access: 'any', request: () => ({ url: `/v1/programs/${programId}/blast-radius` }) },
  'GET /v1/programs/:id/blast-radius.csv': { kind: 'shared', access: 'any', request: () => ({ url: `/v1/programs/${programId}/blast-radius.csv` }) },
  'GET /admin/queues': { kind: 'shared', access: 'admin', request: () => ({ url: '/admin/queues' }) },

  'POST /v1/sales-owners': {
    kind: 'owned',
    access: 'manager',
    request: (side) => ({ url: '/v1/sales-owners', body: { name: 'New', email: `n-${unique()}@example.jp`, department: f[side].department } }),
  },
  'GET /v1/sales-owners': { kind: 'list', access: 'any', request: () => ({ url: '/v1/sales-owners?limit=200' }), marker: (side) => f[side].owner },
  'GET /v1/sales-owners/:id': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/sales-owners/${f[side].owner}` }) },
  'PATCH /v1/sales-owners/:id': {
    kind: 'owned',
    access: 'manager',
    request: (side) => ({ url: `/v1/sales-owners/${f[side].owner}`, body: { name: 'x' }, headers: stale }),
  },
  'POST /v1/sales-owners/:id/handover': {
    kind: 'owned',
    access: 'manager',
    // From a new owner of that side's department (with nothing to move), so no one's book changes.
    request: async (side) => ({
      url: `/v1/sales-owners/${(await makeSalesOwner(t.db, { department: f[side].department })).id}/handover`,
      body: { toSalesOwnerId: f[side].owner },
    }),
  },

  'POST /v1/customers': {
    kind: 'owned',
    access: 'manager',
    request: (side) => ({ url: '/v1/customers', body: { programId, externalRef: `M-${unique()}`, name: 'New', salesOwnerId: f[side].owner } }),
    refusedAt: 'body.salesOwnerId',
  },
  'GET /v1/customers': {
    kind: 'list',
    access: 'any',
    request: () => ({ url: `/v1/customers?programId=${programId}&limit=200` }),
    marker: (side) => f[side].customer,
  },
  'GET /v1/customers.csv': { kind: 'list', access: 'any', request: () => ({ url: `/v1/customers.csv?programId=${programId}` }), marker: (side) => f[side].ref },
  'GET /v1/customers/:id': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/customers/${f[side].customer}` }) },
  'PATCH /v1/customers/:id': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}`, body: { notes: 'x' }, headers: stale }),
  },
  'POST /v1/customers/:id/transitions': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}/transitions`, body: { to: 'contacted' }, headers: stale }),
  },
  'POST /v1/customers/:id/reassign': {
    kind: 'owned',
    access: 'manager',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}/reassign`, body: { salesOwnerId: f[side].owner }, headers: stale }),
  },
  'GET /v1/customers/:id/history': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/customers/${f[side].customer}/history` }) },
  'POST /v1/customers/:id/domains': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}/domains`, body: { name: `m-${unique()}.example.jp` } }),
  },
  'GET /v1/customers/:id/contacts': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/customers/${f[side].customer}/contacts` }) },
  'POST /v1/customers/:id/contacts': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}/contacts`, body: { name: 'Matrix', email: `m-${unique()}@example.jp`, role: 'technical' } }),
  },
  'GET /v1/customers/:id/contacts/events': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/customers/${f[side].customer}/contacts/events` }) },
  'POST /v1/customers/:id/contacts/events': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}/contacts/events`, body: { kind: 'note', summary: 'matrix' } }),
  },
  'PATCH /v1/contacts/:id': {
    kind: 'owned',
    access: 'any',
    request: async (side) => ({ url: `/v1/contacts/${await contactOf(side)}`, body: { name: 'x' }, headers: stale }),
  },
  // A fresh contact each time, so one role's delete does not decide the next one's answer.
  'GET /v1/contacts/:id': { kind: 'owned', access: 'any', request: async (side) => ({ url: `/v1/contacts/${await contactOf(side)}` }) },
  'DELETE /v1/contacts/:id': { kind: 'owned', access: 'any', request: async (side) => ({ url: `/v1/contacts/${await contactOf(side)}` }) },
  'GET /v1/programs/:id/notice-templates': { kind: 'shared', access: 'any', request: () => ({ url: `/v1/programs/${programId}/notice-templates` }) },
  'PUT /v1/programs/:id/notice-templates': {
    kind: 'shared',
    access: 'admin',
    request: () => ({ url: `/v1/programs/${programId}/notice-templates`, body: { en: null } }),
  },
  'GET /v1/programs/:id/notices.zip': { kind: 'shared', access: 'manager', request: () => ({ url: `/v1/programs/${programId}/notices.zip?q=none-such` }) },
  'GET /v1/customers/:id/notice': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/customers/${f[side].customer}/notice` }) },
  // No SMTP_URL here: a visible customer is a 409 (sending is not configured), another's a 404.
  'POST /v1/customers/:id/notice/send': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}/notice/send`, body: {} }),
  },
  'POST /v1/customers/:id/self-check-links': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}/self-check-links`, body: {} }),
  },
  'GET /v1/customers/:id/self-check-links': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}/self-check-links` }),
  },
  'GET /v1/customers/:id/self-check-links/:linkId': {
    kind: 'owned',
    access: 'any',
    request: async (side) => ({ url: `/v1/customers/${f[side].customer}/self-check-links/${await linkOf(side)}` }),
  },
  'DELETE /v1/customers/:id/self-check-links/:linkId': {
    kind: 'owned',
    access: 'any',
    request: async (side) => ({ url: `/v1/customers/${f[side].customer}/self-check-links/${await linkOf(side)}` }),
  },
  'GET /v1/domains/:id': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/domains/${f[side].domain}` }) },
  'POST /v1/domains/:id/checks': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/domains/${f[side].domain}/checks` }) },
  'GET /v1/domains/:id/checks': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/domains/${f[side].domain}/checks` }) },
  'GET /v1/domains/:id/spf-test': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/domains/${f[side].domain}/spf-test?ip=192.0.2.1` }) },
  'POST /v1/domains/:id/not-found-dismissal': {
    kind: 'owned',
    access: 'manager',
    // Never checked, so a permitted caller gets past visibility to the verdict rule (409).
    request: (side) => ({ url: `/v1/domains/${f[side].domain}/not-found-dismissal`, body: { reason: 'retired' } }),
  },
  'DELETE /v1/domains/:id': {
    kind: 'owned',
    access: 'manager',
    // A fresh domain each time, so one role's delete does not decide the next one's answer.
    request: async (side) => ({ url: `/v1/domains/${(await makeDomain(t.db, { id: f[side].customer, programId })).id}` }),
  },
  'POST /v1/domains/:id/restore': {
    kind: 'owned',
    access: 'admin',
    // A fresh archived domain each time, as for DELETE.
    request: async (side) => ({
      url: `/v1/domains/${(await makeDomain(t.db, { id: f[side].customer, programId }, { archivedAt: new Date(), archivedBy: 'test' })).id}/restore`,
    }),
  },
  'GET /v1/customers/:id/archived-domains': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/customers/${f[side].customer}/archived-domains` }),
  },

  'POST /v1/tokens': { kind: 'shared', access: 'admin', request: () => ({ url: '/v1/tokens', body: { name: 'matrix', role: 'admin' } }) },
  'GET /v1/tokens': { kind: 'shared', access: 'admin', request: () => ({ url: '/v1/tokens' }) },
  'GET /v1/tokens/:id': { kind: 'shared', access: 'admin', request: async () => ({ url: `/v1/tokens/${(await makeToken(t.db, 'admin')).id}` }) },
  'DELETE /v1/tokens/:id': {
    kind: 'shared',
    access: 'admin',
    request: async () => ({ url: `/v1/tokens/${(await makeToken(t.db, 'admin')).id}` }),
  },
  'GET /v1/sessions': { kind: 'shared', access: 'admin', request: () => ({ url: '/v1/sessions?limit=10' }) },
  'DELETE /v1/sessions/:id': {
    kind: 'shared',
    access: 'admin',
    request: async () => {
      const { id } = await makeToken(t.db, 'admin');
      return { url: `/v1/sessions/${(await startSession(t.db, id, 'matrix', new Date())).row.id}` };
    },
  },

  'GET /v1/tasks': { kind: 'list', access: 'any', request: () => ({ url: '/v1/tasks?status=open&limit=200' }), marker: (side) => f[side].task },
  'POST /v1/tasks/:id/complete': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/tasks/${f[side].task}/complete`, body: {} }) },
  'POST /v1/tasks/:id/dismiss': { kind: 'owned', access: 'any', request: (side) => ({ url: `/v1/tasks/${f[side].task}/dismiss`, body: { reason: 'x' } }) },
  'POST /v1/tasks/:id/snooze': {
    kind: 'owned',
    access: 'any',
    request: (side) => ({ url: `/v1/tasks/${f[side].task}/snooze`, body: { until: new Date(Date.now() + 86_400_000).toISOString() } }),
  },
};

async function send(method: string, role: Role, req: Req) {
  const json = req.body !== undefined && typeof req.body !== 'string';
  return t.app.inject({
    method: method as 'GET',
    url: req.url,
    headers: { authorization: `Bearer ${token[role]}`, ...(json ? { 'content-type': 'application/json' } : {}), ...req.headers },
    ...(req.body === undefined ? {} : { payload: json ? JSON.stringify(req.body) : (req.body as string) }),
  });
}
const refused = (status: number) => status === 403 || status === 404;
const passed = (status: number) => ![401, 403, 404].includes(status) && status < 500;

describe('the role × own/other × read/write matrix', () => {
  it('has a visibility rule for every protected route, and each rule states the route\u2019s access level', () => {
    const table = t.app.protectedRoutes.map((r) => `${r.method} ${r.url}`);
    expect(table.filter((route) => !rules[route])).toEqual([]);
    expect(Object.keys(rules).filter((route) => !table.includes(route))).toEqual([]);
    for (const r of t.app.protectedRoutes) expect(`${r.method} ${r.url}: ${rules[`${r.method} ${r.url}`]!.access}`).toBe(`${r.method} ${r.url}: ${r.access}`);
  });

  it('lets each role reach exactly what it may, over every route', async () => {
    const wrong: string[] = [];
    let cases = 0;
    for (const [route, rule] of Object.entries(rules)) {
      const method = route.split(' ')[0]!;
      for (const role of roles) {
        const may = allowed[rule.access].includes(role);
        for (const side of ['own', 'other'] as const) {
          if (rule.kind !== 'owned' && side === 'other') continue;
          const req = rule.kind === 'owned' ? await rule.request(side) : await rule.request();
          const res = await send(method, role, req);
          cases++;
          const label = `${route} as ${role} on ${side} (${method === 'GET' ? 'read' : 'write'}) → ${res.statusCode}`;
          if (!may) {
            if (res.statusCode !== 403) wrong.push(`${label}, expected 403`);
            continue;
          }
          if (rule.kind === 'owned' && side === 'other' && role !== 'admin') {
            const byField = rule.refusedAt !== undefined && res.statusCode === 400 && res.body.includes(`"${rule.refusedAt}"`);
            if (!refused(res.statusCode) && !byField) wrong.push(`${label}, expected 403 or 404${rule.refusedAt ? ` or 400 at ${rule.refusedAt}` : ''}`);
            continue;
          }
          if (!passed(res.statusCode)) wrong.push(`${label}, expected to pass: ${res.body.slice(0, 160)}`);
          if (rule.kind === 'list') {
            if (!res.body.includes(rule.marker('own'))) wrong.push(`${label}: own item missing`);
            if (res.body.includes(rule.marker('other')) !== (role === 'admin'))
              wrong.push(`${label}: another's item ${role === 'admin' ? 'missing' : 'shown'}`);
          }
        }
      }
    }
    console.log(`[access] ${Object.keys(rules).length} routes, ${cases} role × ownership cases`);
    expect(wrong).toEqual([]);
  });
});
