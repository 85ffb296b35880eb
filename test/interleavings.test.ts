import { and, asc, eq, inArray } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, customers, statusEvents } from '../db/schema/index.ts';
import { customerStatuses, type CustomerStatus } from '../db/schema/enums.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/**
 * Issue 15's property: imports, transitions, reassignments and handovers on a few customers, all at
 * once in a random mix, never lose an acknowledged change. After each mix, the database must tell one
 * consistent story that contains every acknowledged operation:
 *  - every acknowledged transition has its status event, and each customer's status events form one
 *    chain (each starts where the previous ended) that ends at the row's status;
 *  - the row's version counts exactly the audited changes of the customer (1 + each transition,
 *    reassignment, import update and handover that moved it), so no write went unrecorded;
 *  - the row's owner and name are those of the last audited change that set them (audit ids follow
 *    commit order per customer: every writer holds the customer's row lock until it commits);
 *  - every row an acknowledged import reported as updated has its audit entry;
 *  - no request answered 5xx.
 */
let t: TestApp;
let admin: string;
beforeAll(async () => {
  t = await buildTestApp();
  admin = (await makeToken(t.db, 'admin')).token;
});
afterAll(() => t.close());

const CUSTOMERS = 3;
const OWNERS = 3;
const auth = () => ({ authorization: `Bearer ${admin}` });

type Op =
  | { kind: 'import'; rows: { customer: number; name: string; owner: number; status: CustomerStatus | '' }[]; allOrNothing: boolean }
  | { kind: 'transition'; customer: number; to: CustomerStatus }
  | { kind: 'reassign'; customer: number; owner: number }
  | { kind: 'handover'; from: number; to: number };

const customer = fc.integer({ min: 0, max: CUSTOMERS - 1 });
const owner = fc.integer({ min: 0, max: OWNERS - 1 });
const status = fc.constantFrom(...customerStatuses);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('import' as const),
    rows: fc.uniqueArray(
      fc.record({ customer, name: fc.constantFrom('Alpha', 'Beta', 'Gamma', '株式会社デルタ'), owner, status: fc.oneof(fc.constant('' as const), status) }),
      {
        minLength: 1,
        maxLength: CUSTOMERS,
        selector: (r) => r.customer,
      },
    ),
    allOrNothing: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('transition' as const), customer, to: status }),
  fc.record({ kind: fc.constant('reassign' as const), customer, owner }),
  fc.record({ kind: fc.constant('handover' as const), from: owner, to: owner }).filter((h) => h.from !== h.to),
);

async function setUp() {
  const program = await makeProgram(t.db);
  const owners = await Promise.all(Array.from({ length: OWNERS }, () => makeSalesOwner(t.db)));
  const csv = `external_ref,customer_name,sales_owner_email\n${Array.from({ length: CUSTOMERS }, (_, i) => `R-${i},Initial ${i},${owners[i % OWNERS]!.email}`).join('\n')}\n`;
  const created = await t.app.inject({
    method: 'POST',
    url: `/v1/programs/${program.id}/imports`,
    headers: { ...auth(), 'content-type': 'text/csv' },
    payload: csv,
  });
  expect(created.statusCode).toBe(200);
  const rows = await t.db.select().from(customers).where(eq(customers.programId, program.id)).orderBy(asc(customers.externalRef));
  return { program, owners, ids: rows.map((r) => r.id), initial: rows };
}

describe('random interleavings of import, transitions, reassignment and handover', () => {
  it('never lose an acknowledged change', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 10 }), async (ops) => {
        const { program, owners, ids, initial } = await setUp();
        const failures: string[] = [];
        const acknowledgedTransitions: { customerId: string; to: CustomerStatus; note: string }[] = [];
        let importedUpdates = 0;

        const record = (o: Op, res: { statusCode: number; body: string }) => {
          if (res.statusCode >= 500) failures.push(`${o.kind}: ${res.statusCode} ${res.body}`);
        };
        const run = async (o: Op, n: number) => {
          if (o.kind === 'import') {
            const csv = `external_ref,customer_name,sales_owner_email,status\n${o.rows.map((r) => `R-${r.customer},${r.name},${owners[r.owner]!.email},${r.status}`).join('\n')}\n`;
            const res = await t.app.inject({
              method: 'POST',
              url: `/v1/programs/${program.id}/imports?allOrNothing=${o.allOrNothing}`,
              headers: { ...auth(), 'content-type': 'text/csv' },
              payload: csv,
            });
            record(o, res);
            if (res.statusCode === 200) importedUpdates += res.json().updated as number;
            return;
          }
          if (o.kind === 'handover') {
            const res = await t.app.inject({
              method: 'POST',
              url: `/v1/sales-owners/${owners[o.from]!.id}/handover`,
              headers: auth(),
              payload: { toSalesOwnerId: owners[o.to]!.id },
            });
            record(o, res);
            return;
          }
          const id = ids[o.customer]!;
          const etag = (await t.app.inject({ method: 'GET', url: `/v1/customers/${id}`, headers: auth() })).headers.etag as string;
          const note = `op ${n}`;
          const res =
            o.kind === 'transition'
              ? await t.app.inject({
                  method: 'POST',
                  url: `/v1/customers/${id}/transitions`,
                  headers: { ...auth(), 'if-match': etag },
                  payload: { to: o.to, note },
                })
              : await t.app.inject({
                  method: 'POST',
                  url: `/v1/customers/${id}/reassign`,
                  headers: { ...auth(), 'if-match': etag },
                  payload: { salesOwnerId: owners[o.owner]!.id },
                });
          record(o, res);
          if (o.kind === 'transition' && res.statusCode === 200) acknowledgedTransitions.push({ customerId: id, to: o.to, note });
        };
        await Promise.all(ops.map((o, n) => run(o, n)));

        expect(failures).toEqual([]);
        const rows = await t.db.select().from(customers).where(inArray(customers.id, ids));
        const audits = await t.db
          .select()
          .from(auditLog)
          .where(inArray(auditLog.action, ['customer.import', 'customer.transition', 'customer.reassign', 'sales_owner.handover']))
          .orderBy(asc(auditLog.id));
        let auditedImportUpdates = 0;
        for (const row of rows) {
          const events = await t.db.select().from(statusEvents).where(eq(statusEvents.customerId, row.id)).orderBy(asc(statusEvents.id));
          expect(events[0]!.fromStatus).toBeNull();
          for (let i = 1; i < events.length; i++) expect(events[i]!.fromStatus).toBe(events[i - 1]!.toStatus);
          expect(events.at(-1)!.toStatus).toBe(row.status);
          for (const a of acknowledgedTransitions.filter((a) => a.customerId === row.id)) {
            expect(events).toContainEqual(expect.objectContaining({ toStatus: a.to, note: a.note }));
          }

          const changes = audits.filter((a) => {
            const after = a.after as Record<string, unknown> | null;
            if (a.action === 'sales_owner.handover') return (after?.customerIds as string[]).includes(row.id);
            return a.entityId === row.id && (a.action !== 'customer.import' || a.before !== null);
          });
          auditedImportUpdates += changes.filter((a) => a.action === 'customer.import').length;
          expect(row.version).toBe(1 + changes.length);
          const start = initial.find((c) => c.id === row.id)!;
          let expectedOwner = start.salesOwnerId;
          let expectedName = start.name;
          for (const a of changes) {
            const after = a.after as { salesOwnerId?: string; name?: string };
            if (after.salesOwnerId !== undefined) expectedOwner = after.salesOwnerId;
            if (a.action === 'customer.import' && after.name !== undefined) expectedName = after.name;
          }
          expect(row.salesOwnerId).toBe(expectedOwner);
          expect(row.name).toBe(expectedName);
        }
        expect(auditedImportUpdates).toBe(importedUpdates);
        // Nothing outside these customers was touched by the mix (handovers move only these owners' books).
        expect(await t.db.$count(customers, and(eq(customers.programId, program.id)))).toBe(CUSTOMERS);
      }),
      { numRuns: 100 },
    );
  }, 120_000);
});
