import { and, asc, eq, getTableColumns, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { customers, domains, salesOwners } from '../../db/schema/index.ts';
import { customerStatuses } from '../../db/schema/enums.ts';
import { prepared } from '../../db/prepared.ts';
import { customerScope, type Viewer } from '../access/access.ts';
import type { CustomerQuery, CustomerSort } from './customer-schemas.ts';

export type CustomerRow = typeof customers.$inferSelect;
import type { DomainRow } from '../domains/domain-service.ts';

export async function findCustomerById(db: Db, id: string, scope: SQL | undefined) {
  return (
    await db
      .select()
      .from(customers)
      .where(and(eq(customers.id, id), scope))
  )[0];
}

/** A customer locked for a change, with its domains, in one statement (the domains are not locked). */
export async function lockCustomerWithDomains(db: Db, id: string, scope: SQL | undefined): Promise<{ row: CustomerRow; domainRows: DomainRow[] } | undefined> {
  const rows = await db
    .select({ customer: customers, domain: domains })
    .from(customers)
    .leftJoin(domains, and(eq(domains.customerId, customers.id), isNull(domains.archivedAt)))
    .where(and(eq(customers.id, id), scope))
    .orderBy(asc(domains.name))
    .for('no key update', { of: customers });
  return rows.length === 0 ? undefined : withDomains(rows);
}

const withDomains = (rows: { customer: CustomerRow; domain: DomainRow | null }[]) => ({
  row: rows[0]!.customer,
  domainRows: rows.flatMap((r) => (r.domain ? [r.domain] : [])),
});

/**
 * A customer by id as a viewer may see it, with its domains: the read path of GET /customers/{id}.
 * One statement (the customer joined to its domains: every round trip to PostgreSQL costs a socket
 * write, the largest item in the route's profile), prepared once per role's scope (db/prepared.ts).
 * Not for use inside a transaction.
 */
export async function readCustomer(db: Db, id: string, viewer: Viewer): Promise<{ row: CustomerRow; domainRows: DomainRow[] } | undefined> {
  const name = `customer_by_id_${viewer.role}`;
  const rows = await prepared(db, name, (d) =>
    d
      .select({ customer: customers, domain: domains })
      .from(customers)
      .leftJoin(domains, and(eq(domains.customerId, customers.id), isNull(domains.archivedAt)))
      .where(and(eq(customers.id, sql.placeholder('id')), customerScope(viewer, undefined, { placeholders: true })))
      .orderBy(asc(domains.name))
      .prepare(name),
  ).execute({ id, owner: viewer.salesOwnerId, department: viewer.department });
  return rows.length === 0 ? undefined : withDomains(rows);
}

export const domainsOfCustomers = (db: Db, customerIds: string[]) =>
  customerIds.length === 0
    ? Promise.resolve([] as DomainRow[])
    : db
        .select()
        .from(domains)
        .where(and(inArray(domains.customerId, customerIds), isNull(domains.archivedAt)))
        .orderBy(asc(domains.name));

/** The sort expression of each key: a total order together with the id, and a plain value for the cursor. */
const sortExpressions: Record<string, SQL> = {
  name: sql`${customers.name}`,
  status: sql`array_position(${sql.raw(`ARRAY[${customerStatuses.map((s) => `'${s}'`).join(',')}]::text[]`)}, ${customers.status})`,
  // Millisecond precision, the precision of the cursor.
  updatedAt: sql`date_trunc('milliseconds', ${customers.updatedAt})`,
  plannedMigrationAt: sql`coalesce(${customers.plannedMigrationAt}, '9999-12-31'::date)`,
};
const cursorCasts: Record<string, string> = { name: 'text', status: 'int', updatedAt: 'timestamptz', plannedMigrationAt: 'date' };

export function sortOf(sort: CustomerSort) {
  const key = sort.replace(/^-/, '');
  return { key, descending: sort.startsWith('-'), expression: sortExpressions[key]!, cast: cursorCasts[key]! };
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, '\\$&');

/** Customers with at least one live domain of any of the verdicts (`unchecked`: none determined yet). */
function verdictFilter(verdicts: string[]): SQL {
  const named = verdicts.filter((v) => v !== 'unchecked');
  const matches = [
    ...(named.length > 0 ? [sql`${domains.latestVerdict} = ANY(${sql.param(named)}::text[])`] : []),
    ...(verdicts.includes('unchecked') ? [sql`${domains.latestVerdict} IS NULL`] : []),
  ];
  return sql`EXISTS (SELECT 1 FROM ${domains} WHERE ${domains.customerId} = ${customers.id} AND ${domains.archivedAt} IS NULL AND (${sql.join(matches, sql` OR `)}))`;
}

/** The filters of the customer list, as SQL conditions. */
export function customerFilters(query: Omit<CustomerQuery, 'limit' | 'cursor' | 'sort'>, domainPrefix?: string): (SQL | undefined)[] {
  const q = query.q ? escapeLike(query.q.toLowerCase()) : undefined;
  return [
    query.programId ? eq(customers.programId, query.programId) : undefined,
    query.status?.length ? inArray(customers.status, query.status) : undefined,
    query.salesOwnerId ? eq(customers.salesOwnerId, query.salesOwnerId) : undefined,
    query.department
      ? sql`${customers.salesOwnerId} IN (SELECT ${salesOwners.id} FROM ${salesOwners} WHERE ${salesOwners.department} = ${query.department})`
      : undefined,
    query.verdict?.length ? verdictFilter(query.verdict) : undefined,
    q
      ? sql`(lower(${customers.name}) LIKE ${`${q}%`} OR lower(${customers.externalRef}) LIKE ${`${q}%`}
            OR EXISTS (SELECT 1 FROM ${domains} WHERE ${domains.customerId} = ${customers.id} AND ${domains.archivedAt} IS NULL AND ${domains.name} LIKE ${`${escapeLike(domainPrefix ?? q)}%`}))`
      : undefined,
  ];
}

/** Keyset paging by a sort key: the condition after a cursor, the order, and the cursor value to select. */
function keyset(sort: CustomerSort, after?: [string, string]) {
  const { expression, descending, cast } = sortOf(sort);
  const direction = sql.raw(descending ? 'DESC' : 'ASC');
  return {
    after: after ? sql`(${expression}, ${customers.id}) ${sql.raw(descending ? '<' : '>')} (${after[0]}::${sql.raw(cast)}, ${after[1]}::uuid)` : undefined,
    orderBy: [sql`${expression} ${direction}`, sql`${customers.id} ${direction}`],
    sortValue: sql<string>`(${expression})::text`,
  };
}

export function listCustomers(db: Db, where: (SQL | undefined)[], sort: CustomerSort, limit: number, after?: [string, string]) {
  const k = keyset(sort, after);
  return db
    .select({ ...getTableColumns(customers), sortValue: k.sortValue })
    .from(customers)
    .where(and(...where, k.after))
    .orderBy(...k.orderBy)
    .limit(limit);
}

/** One page of the CSV export: each customer with its owner and its domains' names and verdicts, in one query. */
export function exportCustomersPage(db: Db, where: (SQL | undefined)[], sort: CustomerSort, limit: number, after?: [string, string]) {
  const k = keyset(sort, after);
  return db
    .select({
      id: customers.id,
      sortValue: k.sortValue,
      externalRef: customers.externalRef,
      name: customers.name,
      status: customers.status,
      plannedMigrationAt: customers.plannedMigrationAt,
      updatedAt: customers.updatedAt,
      ownerName: salesOwners.name,
      department: salesOwners.department,
      domains: sql<
        string | null
      >`(SELECT string_agg(d.display_name, ' ' ORDER BY d.name) FROM ${domains} d WHERE d.customer_id = ${customers.id} AND d.archived_at IS NULL)`,
      verdicts: sql<
        string | null
      >`(SELECT string_agg(coalesce(d.latest_verdict, 'unchecked'), ' ' ORDER BY d.name) FROM ${domains} d WHERE d.customer_id = ${customers.id} AND d.archived_at IS NULL)`,
    })
    .from(customers)
    .innerJoin(salesOwners, eq(salesOwners.id, customers.salesOwnerId))
    .where(and(...where, k.after))
    .orderBy(...k.orderBy)
    .limit(limit);
}
