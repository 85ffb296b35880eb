import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { rowsOf, type Db } from '../../db/client.ts';
import { programs } from '../../db/schema/index.ts';
import type { CustomerStatus, Role } from '../../db/schema/enums.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import { errors, isUniqueViolation, validationError } from '../errors.ts';
import { normalizeDnsName } from '../dns/dns-name.ts';
import { insertDomains, toDomainSummary, type DomainRow } from '../domains/domain-service.ts';
import { assertVersion } from '../lib/versions.ts';
import { cursorInstant, decodeCursor, encodeCursor, isRealDate, notOurCursor, toPage } from '../lib/cursor.ts';
import { canSeeOwner, customerScope, type Viewer } from '../access/access.ts';
import { requireActiveOwner } from '../sales-owners/sales-owner-service.ts';
import {
  customerFilters,
  domainsOfCustomers,
  findCustomerById,
  lockCustomerWithDomains,
  listCustomers as selectCustomers,
  readCustomer,
  sortOf,
  type CustomerRow,
} from './customer-repository.ts';
import type { CreateCustomer, Customer, CustomerQuery, PatchCustomer, Transition } from './customer-schemas.ts';
import { moveOpenTasksWithCustomers } from '../tasks/task-service.ts';
import { insertCustomer, writeCustomerChange } from '../customer-status/customer-writer.ts';
import { decideTransition } from '../customer-status/customer-workflow.ts';

export function toCustomer(row: CustomerRow, domainRows: DomainRow[]): Customer {
  return {
    id: row.id,
    programId: row.programId,
    externalRef: row.externalRef,
    name: row.name,
    salesOwnerId: row.salesOwnerId,
    status: row.status,
    statusBeforeHold: row.statusBeforeHold,
    plannedMigrationAt: row.plannedMigrationAt,
    successorAccountRef: row.successorAccountRef,
    notes: row.notes,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    domains: domainRows.filter((d) => d.customerId === row.id).map(toDomainSummary),
  };
}

/** A customer the viewer may see, or 404. */
async function loadCustomer(db: Db, id: string, viewer: Viewer) {
  const row = await findCustomerById(db, id, customerScope(viewer));
  if (!row) throw errors.customerNotFound(id);
  return row;
}

/** 404 unless the viewer may see the customer (for the services of what hangs off a customer). */
export async function requireVisibleCustomer(db: Db, customerId: string, viewer: Viewer) {
  if (!(await findCustomerById(db, customerId, customerScope(viewer)))) throw errors.customerNotFound(customerId);
}

export async function getCustomer(db: Db, id: string, viewer: Viewer) {
  const found = await readCustomer(db, id, viewer);
  if (!found) throw errors.customerNotFound(id);
  return toCustomer(found.row, found.domainRows);
}

/** The sort the cursor was made for, the last item's sort value, its id. */
const Cursor = z.tuple([z.string(), z.string(), z.uuid()]);

/** Whether a sort value read back from a cursor is one PostgreSQL casts without an error. */
const castable: Record<string, (value: string) => boolean> = {
  text: () => true,
  int: (v) => /^\d{1,9}$/.test(v),
  timestamptz: (v) => cursorInstant.safeParse(v.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')).success,
  date: isRealDate,
};

function customerCursor(cursor: string, sort: CustomerQuery['sort']): [string, string] {
  const [madeFor, value, id] = decodeCursor(cursor, Cursor);
  if (madeFor !== sort) throw notOurCursor(`this cursor was made for sort=${madeFor}, not sort=${sort}`);
  if (!castable[sortOf(sort).cast]!(value)) throw notOurCursor();
  return [value, id];
}

export async function listCustomers(db: Db, query: CustomerQuery, viewer: Viewer) {
  const after = query.cursor ? customerCursor(query.cursor, query.sort) : undefined;
  const domainPrefix = query.q ? normalizeDnsName(query.q) : undefined;
  const where = [customerScope(viewer), ...customerFilters(query, domainPrefix?.ok ? domainPrefix.ascii : undefined)];
  const rows = await selectCustomers(db, where, query.sort, query.limit + 1, after);
  const page = rows.slice(0, query.limit);
  const domainRows = await domainsOfCustomers(
    db,
    page.map((r) => r.id),
  );
  const last = page[page.length - 1];
  return {
    items: page.map((r) => toCustomer(r, domainRows)),
    nextCursor: rows.length > query.limit && last ? encodeCursor([query.sort, last.sortValue, last.id]) : null,
  };
}

export async function createCustomer(db: Db, input: CreateCustomer, viewer: Viewer, actor: Actor, now: Date) {
  try {
    return await db.transaction(async (tx) => {
      const [program] = await tx.select({ id: programs.id }).from(programs).where(eq(programs.id, input.programId));
      if (!program) throw validationError([{ path: 'body.programId', message: `no program ${input.programId}` }]);
      await requireActiveOwner(tx, input.salesOwnerId, viewer, 'body.salesOwnerId');
      const row = await insertCustomer(
        tx,
        {
          programId: input.programId,
          externalRef: input.externalRef,
          name: input.name,
          salesOwnerId: input.salesOwnerId,
          status: input.status,
          plannedMigrationAt: input.plannedMigrationAt ?? null,
          successorAccountRef: input.successorAccountRef ?? null,
          notes: input.notes ?? null,
          createdAt: now,
          updatedAt: now,
        },
        actor,
        now,
      );
      const domainRows = await insertDomains(tx, row, [...new Set(input.domains)], viewer, now);
      const customer = toCustomer(row, domainRows);
      await appendAudit(tx, actor, { action: 'customer.create', entityType: 'customer', entityId: row.id, after: customer }, now);
      return customer;
    });
  } catch (err) {
    if (isUniqueViolation(err, 'customers_program_external_ref_key')) {
      throw errors.externalRefTaken(input.externalRef, {
        errors: [{ path: 'body.externalRef', message: 'is already used in this program' }],
      });
    }
    throw err;
  }
}

/** What a change does to a locked customer: its new values, and the status event if the status moves. */
type CustomerChange = Parameters<typeof writeCustomerChange>[2];

/**
 * Runs `change` on the locked, visible customer at the expected version, then writes it through the
 * customer writer in one statement: the update (version bumped), the audit entry and the status event,
 * if any. Four round trips in all (begin, lock, write, commit): each costs a socket write and a
 * wake-up of PostgreSQL, the largest item of a transition's time.
 */
async function changeCustomer(
  db: Db,
  id: string,
  expectedVersion: number | null,
  viewer: Viewer,
  actor: Actor,
  now: Date,
  action: string,
  change: (tx: Db, current: CustomerRow, domainRows: DomainRow[]) => Promise<CustomerChange | null>,
) {
  return db.transaction(async (tx) => {
    const locked = await lockCustomerWithDomains(tx, id, customerScope(viewer));
    if (!locked) throw errors.customerNotFound(id);
    const { row: current, domainRows } = locked;
    assertVersion(expectedVersion, current.version);
    // No change below touches the domains: those read with the lock stand for before and after.
    const changed = await change(tx, current, domainRows);
    if (changed === null) return toCustomer(current, domainRows);
    const row = await writeCustomerChange(tx, current, changed, actor, now, (after) => ({
      action,
      entityType: 'customer',
      entityId: id,
      before: toCustomer(current, domainRows),
      after: toCustomer(after, domainRows),
    }));
    return toCustomer(row, domainRows);
  });
}

export function updateCustomer(db: Db, id: string, patch: PatchCustomer, expectedVersion: number | null, viewer: Viewer, actor: Actor, now: Date) {
  return changeCustomer(db, id, expectedVersion, viewer, actor, now, 'customer.update', async (_tx, current) => {
    const changes = Object.fromEntries(Object.entries(patch).filter(([k, v]) => v !== undefined && (current as Record<string, unknown>)[k] !== v));
    return Object.keys(changes).length === 0 ? null : { set: changes };
  });
}

/** One status change through the workflow; appends a status event in the same transaction. */
export function transitionCustomer(
  db: Db,
  id: string,
  input: Transition,
  expectedVersion: number | null,
  viewer: Viewer & { role: Role },
  actor: Actor,
  now: Date,
) {
  return changeCustomer(db, id, expectedVersion, viewer, actor, now, 'customer.transition', async (tx, current, domainRows) => {
    const verdicts = domainRows.map((d) => d.latestVerdict);
    const decision = decideTransition({
      from: current.status,
      to: input.to,
      statusBeforeHold: current.statusBeforeHold,
      role: viewer.role,
      overrideReason: input.overrideReason,
      domainVerdicts: verdicts,
    });
    if (!decision.ok) {
      throw errors[decision.reason](decision.message, { from: current.status, allowed: decision.allowed });
    }
    const statusBeforeHold: CustomerStatus | null = input.to === 'on_hold' ? current.status : null;
    return {
      set: { status: input.to, statusBeforeHold },
      statusEvent: {
        fromStatus: current.status,
        toStatus: input.to,
        actor: actor.name,
        note: input.note ?? null,
        overrideReason: decision.kind === 'normal' ? null : (input.overrideReason ?? null),
      },
    };
  });
}

/** Moves a customer to another owner, and its open tasks with it unless told otherwise. */
export function reassignCustomer(
  db: Db,
  id: string,
  input: { salesOwnerId: string; moveOpenTasks: boolean },
  expectedVersion: number | null,
  viewer: Viewer,
  actor: Actor,
  now: Date,
) {
  return changeCustomer(db, id, expectedVersion, viewer, actor, now, 'customer.reassign', async (tx, current) => {
    if (current.salesOwnerId === input.salesOwnerId) return null;
    const owner = await requireActiveOwner(tx, input.salesOwnerId, viewer, 'body.salesOwnerId');
    if (!canSeeOwner(viewer, owner)) throw validationError([{ path: 'body.salesOwnerId', message: `no sales owner ${owner.id}` }]);
    if (input.moveOpenTasks) await moveOpenTasksWithCustomers(tx, [{ customerId: id, fromOwnerId: current.salesOwnerId, toOwnerId: owner.id }], now);
    return { set: { salesOwnerId: owner.id } };
  });
}

const HistoryCursor = z.tuple([cursorInstant, z.enum(['audit', 'status']), z.string().regex(/^\d{1,18}$/)]);

/** Status events and audit entries of a customer (and its domains), newest first. */
export async function customerHistory(db: Db, id: string, viewer: Viewer, limit: number, cursor?: string) {
  await loadCustomer(db, id, viewer);
  const after = cursor ? decodeCursor(cursor, HistoryCursor) : undefined;
  const result = await db.execute(sql`
    SELECT * FROM (
      SELECT 'status' AS kind, id::text AS id, at, actor, from_status, to_status, note, override_reason,
             NULL::text AS action, NULL::jsonb AS before, NULL::jsonb AS after
      FROM status_events WHERE customer_id = ${id}
      UNION ALL
      SELECT 'audit', id::text, at, actor, NULL, NULL, NULL, NULL, action, before, after
      FROM audit_log
      WHERE (entity_type = 'customer' AND entity_id = ${id})
         OR (entity_type IN ('domain', 'contact') AND coalesce(after, before) ->> 'customerId' = ${id})
    ) h
    ${after ? sql`WHERE (h.at, h.kind, h.id::bigint) < (${after[0]}::timestamptz, ${after[1]}, ${after[2]}::bigint)` : sql``}
    ORDER BY h.at DESC, h.kind DESC, h.id::bigint DESC
    LIMIT ${limit + 1}`);
  type Row = {
    kind: 'status' | 'audit';
    id: string;
    at: string | Date;
    actor: string;
    from_status: CustomerStatus | null;
    to_status: CustomerStatus | null;
    note: string | null;
    override_reason: string | null;
    action: string | null;
    before: unknown;
    after: unknown;
  };
  const iso = (at: string | Date) => new Date(at).toISOString();
  return toPage(
    rowsOf<Row>(result),
    limit,
    (r) =>
      r.kind === 'status'
        ? { kind: r.kind, at: iso(r.at), actor: r.actor, from: r.from_status, to: r.to_status!, note: r.note, overrideReason: r.override_reason }
        : { kind: r.kind, at: iso(r.at), actor: r.actor, action: r.action!, before: r.before, after: r.after },
    (r) => [iso(r.at), r.kind, r.id],
  );
}
