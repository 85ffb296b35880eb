import { eq, inArray, sql, type SQL } from 'drizzle-orm';
import { col, type Db, rowsOf } from '../../db/client.ts';
import { auditLog, customers, dnsChecks, domains, statusEvents } from '../../db/schema/index.ts';
import type { CustomerStatus } from '../../db/schema/enums.ts';
import { appendAudit, auditRow, type Actor, type AuditEntry } from '../audit/audit-repository.ts';
import { chunk } from '../lib/batches.ts';
import { closeTasksOfFinalCustomers } from '../tasks/task-service.ts';
import { isFinal } from './customer-workflow.ts';

/*
 * The one module that writes `customers` and `status_events` (test/table-owners.test.ts keeps it so).
 * Whoever changes a customer — a transition or edit through the API, auto-progress from DNS, an import,
 * a handover — comes here, and so gets the same guarantees:
 *   - every change bumps the version (an ETag a client holds goes stale);
 *   - a status change writes its status event in the same transaction;
 *   - a move to a final status closes the customer's open reminders and clean-up tasks;
 *   - the import writes a customer only at the version it planned against.
 */

export const SYSTEM_DNS: Actor = { name: 'system:dns' };
type CustomerRow = typeof customers.$inferSelect;

/** Statuses auto-progress can move a customer from. */
export const BEFORE_MIGRATED: CustomerStatus[] = ['contacted', 'planned', 'migrating'];

type StatusEvent = Omit<typeof statusEvents.$inferInsert, 'id' | 'customerId' | 'at'>;

/** A new customer and its first status event. */
export async function insertCustomer(tx: Db, values: Omit<typeof customers.$inferInsert, 'id' | 'version'>, actor: Actor, now: Date): Promise<CustomerRow> {
  const [row] = await tx.insert(customers).values(values).returning();
  await tx.insert(statusEvents).values({ customerId: row!.id, fromStatus: null, toStatus: row!.status, actor: actor.name, note: 'created', at: now });
  return row!;
}

/**
 * Writes a change to a customer the caller has locked and checked the version of: the update (version
 * bumped), its audit entry and its status event, if any, in one statement. `audit` receives the row as
 * the update leaves it (the lock keeps everyone else out, so that is what the database will hold).
 */
export async function writeCustomerChange(
  tx: Db,
  current: CustomerRow,
  change: { set: Partial<typeof customers.$inferInsert>; statusEvent?: StatusEvent | undefined },
  actor: Actor,
  now: Date,
  audit: (after: CustomerRow) => AuditEntry,
): Promise<CustomerRow> {
  const version = current.version + 1;
  const auditInsert = tx.$with('audit').as(
    tx
      .insert(auditLog)
      .values(auditRow(actor, audit({ ...current, ...change.set, version, updatedAt: now }), now))
      .returning({ id: auditLog.id }),
  );
  const { statusEvent } = change;
  const eventInsert = statusEvent
    ? [
        tx.$with('event').as(
          tx
            .insert(statusEvents)
            .values({ ...statusEvent, customerId: current.id, at: now })
            .returning({ id: statusEvents.id }),
        ),
      ]
    : [];
  const [row] = await tx
    .with(auditInsert, ...eventInsert)
    .update(customers)
    .set({ ...change.set, version, updatedAt: now })
    .where(eq(customers.id, current.id))
    .returning();
  if (statusEvent && isFinal(statusEvent.toStatus)) await closeTasksOfFinalCustomers(tx, [{ customerId: current.id, status: statusEvent.toStatus }], now);
  return row!;
}

/** The customer's representation embeds its domains, so a domain change is a new customer version. */
export async function bumpCustomerVersion(tx: Db, customerId: string, now: Date) {
  await tx
    .update(customers)
    .set({ version: sql`${customers.version} + 1`, updatedAt: now })
    .where(eq(customers.id, customerId));
}

/** A handover: every customer of one owner goes to another. The ids moved. */
export async function moveOwnerCustomers(tx: Db, fromOwnerId: string, toOwnerId: string, now: Date) {
  const moved = await tx
    .update(customers)
    .set({ salesOwnerId: toOwnerId, version: sql`${customers.version} + 1`, updatedAt: now })
    .where(inArray(customers.id, lockedInIdOrder(tx, eq(customers.salesOwnerId, fromOwnerId))))
    .returning({ id: customers.id });
  return moved.map((m) => m.id);
}

/*
 * Whoever changes several customers in one transaction locks them in id order (the sweep, an import,
 * a handover): two such writers then wait for each other instead of each holding a row the other
 * needs. A subquery with ORDER BY … FOR NO KEY UPDATE locks the rows as it emits them, in that order.
 */
const lockedInIdOrder = (tx: Db, where: SQL) => tx.select({ id: customers.id }).from(customers).where(where).orderBy(customers.id).for('no key update');

const BATCH = 5000;
/** One array bound as a single parameter (drizzle would otherwise spread it into a list). */

/*
 * The import's bulk writes send one array per column and let PostgreSQL unnest them: one statement and
 * a handful of parameters per batch, instead of a statement with thousands of bound values.
 */

export interface ImportedCustomer {
  externalRef: string;
  name: string;
  salesOwnerId: string;
  status: CustomerStatus;
  plannedMigrationAt: string | null;
  /** The status event's note, e.g. "import line 12". */
  note: string;
}

/**
 * Creates imported customers with their first status events. One created meanwhile by someone else
 * (same external ref) is left alone and missing from the result: external ref → id of those created.
 */
export async function insertImportedCustomers(tx: Db, programId: string, rows: ImportedCustomer[], actor: Actor, now: Date): Promise<Map<string, string>> {
  const idOf = new Map<string, string>();
  for (const b of chunk(rows, BATCH)) {
    const inserted = rowsOf<{ id: string; external_ref: string }>(
      await tx.execute(sql`
        INSERT INTO customers (program_id, external_ref, name, sales_owner_id, status, planned_migration_at, created_at, updated_at)
        SELECT ${programId}, c.external_ref, c.name, c.owner, c.status, c.planned, ${now}, ${now}
        FROM unnest(${col(b.map((r) => r.externalRef))}::text[], ${col(b.map((r) => r.name))}::text[], ${col(b.map((r) => r.salesOwnerId))}::uuid[],
                    ${col(b.map((r) => r.status))}::text[], ${col(b.map((r) => r.plannedMigrationAt))}::date[])
          AS c(external_ref, name, owner, status, planned)
        ON CONFLICT (program_id, external_ref) DO NOTHING
        RETURNING id, external_ref`),
    );
    for (const c of inserted) idOf.set(c.external_ref, c.id);
  }
  await insertStatusEvents(
    tx,
    rows.flatMap((r) => (idOf.has(r.externalRef) ? [{ customerId: idOf.get(r.externalRef)!, from: null, to: r.status, note: r.note }] : [])),
    actor,
    now,
  );
  return idOf;
}

/** An imported change: the row as planned, with the version it was planned against. */
export interface PlannedUpdate {
  current: CustomerRow;
  next: Pick<CustomerRow, 'name' | 'salesOwnerId' | 'plannedMigrationAt' | 'status' | 'statusBeforeHold'>;
  note: string;
}

/**
 * Writes each planned update only if the customer is still at the version the plan read: a transition,
 * reassignment or edit that landed meanwhile is never overwritten. Status changes get their events, and
 * final ones close the customer's tasks. The ids written; the caller reports the others as conflicts.
 */
export async function updateCustomersAtVersion(tx: Db, updates: PlannedUpdate[], actor: Actor, now: Date): Promise<Set<string>> {
  const written = new Set<string>();
  for (const b of chunk(
    [...updates].sort((x, y) => (x.current.id < y.current.id ? -1 : 1)),
    BATCH,
  )) {
    await lockedInIdOrder(tx, sql`${customers.id} = ANY(${col(b.map((u) => u.current.id))}::uuid[])`);
    const rows = rowsOf<{ id: string }>(
      await tx.execute(sql`
        UPDATE customers AS c SET name = v.name, sales_owner_id = v.owner, planned_migration_at = v.planned, status = v.status,
          status_before_hold = v.before_hold, version = c.version + 1, updated_at = ${now}
        FROM unnest(${col(b.map((u) => u.current.id))}::uuid[], ${col(b.map((u) => u.next.name))}::text[], ${col(b.map((u) => u.next.salesOwnerId))}::uuid[],
                    ${col(b.map((u) => u.next.plannedMigrationAt))}::date[], ${col(b.map((u) => u.next.status))}::text[], ${col(b.map((u) => u.next.statusBeforeHold))}::text[],
                    ${col(b.map((u) => u.current.version))}::int[])
          AS v(id, name, owner, planned, status, before_hold, version)
        WHERE c.id = v.id AND c.version = v.version
        RETURNING c.id`),
    );
    for (const r of rows) written.add(r.id);
  }
  const moved = updates.filter((u) => written.has(u.current.id) && u.next.status !== u.current.status);
  await insertStatusEvents(
    tx,
    moved.map((u) => ({ customerId: u.current.id, from: u.current.status, to: u.next.status, note: u.note })),
    actor,
    now,
  );
  await closeTasksOfFinalCustomers(
    tx,
    moved.filter((u) => isFinal(u.next.status)).map((u) => ({ customerId: u.current.id, status: u.next.status })),
    now,
  );
  return written;
}

async function insertStatusEvents(tx: Db, events: { customerId: string; from: string | null; to: string; note: string }[], actor: Actor, now: Date) {
  for (const b of chunk(events, BATCH)) {
    await tx.execute(sql`
      INSERT INTO status_events (customer_id, from_status, to_status, actor, note, at)
      SELECT e.customer_id, e.from_status, e.to_status, ${actor.name}, e.note, ${now}
      FROM unnest(${col(b.map((e) => e.customerId))}::uuid[], ${col(b.map((e) => e.from))}::text[], ${col(b.map((e) => e.to))}::text[], ${col(b.map((e) => e.note))}::text[])
        AS e(customer_id, from_status, to_status, note)`);
  }
}

/** What auto-progress needs to know of one DNS check of a customer's domain. */
export interface CheckedCustomerDomain {
  customerId: string;
  /** The customer as the check found it (locked by the caller). */
  customerStatus: CustomerStatus;
  customerUpdatedAt: Date;
  /** The program lets DNS evidence move its customers. */
  autoProgress: boolean;
  /** The check changed the domain's verdict or MX state. */
  domainChanged: boolean;
  /** When the domain was checked before this check (null: never). */
  domainLastCheckedAt: Date | null;
}

/**
 * Auto-progress for the customers of a batch of checks. A customer can move only when one of its
 * domains' verdict or MX state moved, or the customer itself changed (say, a status set by hand) since
 * that domain was last checked; and only if every domain's MX is on the successor, or it is migrated
 * with every domain clean (one query for the batch). Those few move one by one (progressFromDns).
 * Returns where each customer that moved went.
 */
export async function progressFromChecks(tx: Db, checked: CheckedCustomerDomain[], now: Date): Promise<Map<string, CustomerStatus>> {
  const candidates = new Set(
    checked
      .filter((c) => {
        const moved = c.domainChanged || !c.domainLastCheckedAt || c.customerUpdatedAt >= c.domainLastCheckedAt;
        return c.autoProgress && moved && (BEFORE_MIGRATED.includes(c.customerStatus) || c.customerStatus === 'migrated');
      })
      .map((c) => c.customerId),
  );
  const movedTo = new Map<string, CustomerStatus>();
  if (candidates.size === 0) return movedTo;
  // One index lookup per customer, joined with LATERAL (see pruneChecks in probes/check-repository.ts).
  const facts = rowsOf<{ customer_id: string; on_successor: boolean | null; clean: boolean | null }>(
    await tx.execute(sql`
      SELECT c.id AS customer_id, d.on_successor, d.clean
      FROM unnest(${sql.param([...candidates])}::uuid[]) AS c(id) CROSS JOIN LATERAL (
        SELECT bool_and(latest_mx_state IS NOT DISTINCT FROM 'successor') AS on_successor, bool_and(latest_verdict IS NOT DISTINCT FROM 'clean') AS clean
        FROM ${domains} WHERE customer_id = c.id AND archived_at IS NULL) d`),
  );
  const statusOf = new Map(checked.map((c) => [c.customerId, c.customerStatus]));
  for (const { customer_id, on_successor, clean } of facts) {
    if (!on_successor && !(statusOf.get(customer_id) === 'migrated' && clean)) continue;
    const to = await progressFromDns(tx, customer_id, now);
    if (to) movedTo.set(customer_id, to);
  }
  return movedTo;
}

/**
 * Moves a customer (locked by the caller) forward from DNS evidence, never backwards:
 * contacted/planned/migrating → migrated when every domain's MX is on the successor; migrated →
 * completed when every domain is clean. The status event cites the checks. The status it reached,
 * or null if it stayed.
 */
async function progressFromDns(tx: Db, customerId: string, now: Date): Promise<CustomerStatus | null> {
  const [customer] = await tx.select().from(customers).where(eq(customers.id, customerId));
  if (!customer) return null;
  const latest = await tx.execute(sql`
    SELECT DISTINCT ON (d.id) d.id AS domain_id, d.latest_verdict, c.id AS check_id, c.mx_state
    FROM ${domains} d LEFT JOIN ${dnsChecks} c ON c.domain_id = d.id AND c.outcome = 'determined'
    WHERE d.customer_id = ${customerId} AND d.archived_at IS NULL
    ORDER BY d.id, c.checked_at DESC NULLS LAST, c.id DESC`);
  const rows = rowsOf<{ domain_id: string; latest_verdict: string | null; check_id: number | null; mx_state: string | null }>(latest);
  if (rows.length === 0) return null;
  const cite = `checks ${rows.map((r) => r.check_id).join(', ')}`;
  let status = customer.status;
  const move = async (to: CustomerStatus, why: string) => {
    await tx.insert(statusEvents).values({ customerId, fromStatus: status, toStatus: to, actor: SYSTEM_DNS.name, note: `${why} (${cite})`, at: now });
    await tx
      .update(customers)
      .set({ status: to, statusBeforeHold: null, version: sql`${customers.version} + 1`, updatedAt: now })
      .where(eq(customers.id, customerId));
    await appendAudit(
      tx,
      SYSTEM_DNS,
      { action: 'customer.transition', entityType: 'customer', entityId: customerId, before: { status }, after: { status: to, note: why } },
      now,
    );
    status = to;
  };
  if (BEFORE_MIGRATED.includes(status) && rows.every((r) => r.mx_state === 'successor')) {
    await move('migrated', 'MX of every domain is on the successor');
  }
  if (status === 'migrated' && rows.every((r) => r.latest_verdict === 'clean')) {
    await move('completed', 'every domain verified clean');
    await closeTasksOfFinalCustomers(tx, [{ customerId, status: 'completed' }], now);
  }
  return status === customer.status ? null : status;
}
