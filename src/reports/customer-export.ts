import { sql } from 'drizzle-orm';
import { col, rowsOf, type Db } from '../../db/client.ts';
import { customerScope, type Viewer } from '../access/access.ts';
import { customerFilters, exportCustomersPage } from '../customers/customer-repository.ts';
import type { CustomerQuery } from '../customers/customer-schemas.ts';
import { normalizeDnsName } from '../dns/dns-name.ts';

/*
 * The customers CSV (GET /v1/customers.csv and the dashboard's download): the list's filters, a page
 * of 2,000 at a time, with each customer's technical contact. A contact's email is personal data: it is
 * exported to admins only; for other roles the column is there and empty, so a sheet's columns do not
 * move with who downloaded it.
 */

export const customerCsvColumns = [
  'external_ref',
  'customer_name',
  'status',
  'planned_migration_at',
  'sales_owner',
  'department',
  'domains',
  'verdicts',
  'updated_at',
  'contact_name',
  'contact_email',
];

const PAGE = 2000;

/**
 * The technical contact of each customer: the one notices go to, so one with an email first, then the
 * oldest. The email only when `withEmail` (an admin); customer id → contact.
 */
async function technicalContacts(db: Db, customerIds: string[], withEmail: boolean) {
  const found = new Map<string, { name: string; email: string | null }>();
  if (customerIds.length === 0) return found;
  const rows = rowsOf<{ customer_id: string; name: string; email: string | null }>(
    await db.execute(sql`
      SELECT DISTINCT ON (c.customer_id) c.customer_id, c.name, ${withEmail ? sql`c.email` : sql`NULL::text`} AS email
      FROM customer_contacts c
      WHERE c.customer_id = ANY(${col(customerIds)}::uuid[]) AND c.role = 'technical'
      ORDER BY c.customer_id, c.email IS NULL, c.created_at, c.id`),
  );
  for (const r of rows) found.set(r.customer_id, { name: r.name, email: r.email });
  return found;
}

/** Every customer the viewer may see matching the list filters, as rows of customerCsvColumns. */
export async function* customerCsvRows(db: Db, query: Omit<CustomerQuery, 'limit' | 'cursor'>, viewer: Viewer) {
  const domainPrefix = query.q ? normalizeDnsName(query.q) : undefined;
  const where = [customerScope(viewer), ...customerFilters(query, domainPrefix?.ok ? domainPrefix.ascii : undefined)];
  let after: [string, string] | undefined;
  for (;;) {
    const rows = await exportCustomersPage(db, where, query.sort, PAGE, after);
    const contacts = await technicalContacts(
      db,
      rows.map((r) => r.id),
      viewer.role === 'admin',
    );
    for (const r of rows) {
      const contact = contacts.get(r.id);
      yield [
        r.externalRef,
        r.name,
        r.status,
        r.plannedMigrationAt,
        r.ownerName,
        r.department,
        r.domains ?? '',
        r.verdicts ?? '',
        r.updatedAt,
        contact?.name ?? '',
        contact?.email ?? '',
      ];
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < PAGE) return;
    after = [last.sortValue, last.id];
  }
}
