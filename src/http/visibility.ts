import { sql, type SQL } from 'drizzle-orm';
import { customers, salesOwners } from '../../db/schema/index.ts';
import type { Principal } from '../plugins/auth.ts';

/** Who is looking: what visibility rules need of a principal. */
export type Viewer = Pick<Principal, 'role' | 'salesOwnerId' | 'department'>;

/**
 * Row scopes by role: admin sees everything, a manager their department, a sales owner their own.
 * What is outside a viewer's scope does not exist for them (404, never 403), so nothing leaks.
 */
export function customerScope(viewer: Viewer, alias?: string, { placeholders = false } = {}): SQL | undefined {
  if (viewer.role === 'admin') return undefined;
  // Raw report SQL names the customers table by an alias; query-builder code uses the table itself.
  const owner = alias ? sql`${sql.identifier(alias)}.sales_owner_id` : sql`${customers.salesOwnerId}`;
  // A prepared query (db/prepared.ts) takes the viewer's values later, as `owner` and `department`.
  if (viewer.role === 'sales') return sql`${owner} = ${placeholders ? sql.placeholder('owner') : viewer.salesOwnerId}`;
  const department = placeholders ? sql.placeholder('department') : viewer.department;
  return sql`${owner} IN (SELECT ${salesOwners.id} FROM ${salesOwners} WHERE ${salesOwners.department} = ${department})`;
}

export function salesOwnerScope(viewer: Viewer): SQL | undefined {
  if (viewer.role === 'admin') return undefined;
  if (viewer.role === 'sales') return sql`${salesOwners.id} = ${viewer.salesOwnerId}`;
  return sql`${salesOwners.department} = ${viewer.department}`;
}

/** Whether a viewer may see a sales owner with this id and department. */
export function canSeeOwner(viewer: Viewer, owner: { id: string; department: string }) {
  if (viewer.role === 'admin') return true;
  if (viewer.role === 'sales') return owner.id === viewer.salesOwnerId;
  return owner.department === viewer.department;
}
