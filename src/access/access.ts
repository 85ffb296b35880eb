import { sql, type SQL } from 'drizzle-orm';
import type { Role } from '../../db/schema/enums.ts';
import { customers, salesOwners, tasks } from '../../db/schema/index.ts';

/*
 * Who may see which rows: every row-scope rule, in one place, for the routes, the services and the
 * dashboard alike. Admin sees everything, a manager their department, a sales owner their own. What
 * is outside a viewer's scope does not exist for them (404, never 403), so nothing leaks.
 */

/** The caller, as authenticated from a token. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
  /**
   * A sales token's owner: whose customers and tasks it sees. A manager token may be bound to the
   * manager's own sales-owner record too: then it is only who "me" is (assignee=me, the escalations
   * of their owners); a manager's scope is always the department.
   */
  salesOwnerId: string | null;
  department: string | null;
}

/** Who is looking: what the scope rules need of a principal. */
export type Viewer = Pick<Principal, 'role' | 'salesOwnerId' | 'department'>;

/** The customers a viewer sees: by their owner. */
export function customerScope(viewer: Viewer, alias?: string, { placeholders = false } = {}): SQL | undefined {
  if (viewer.role === 'admin') return undefined;
  // Raw report SQL names the customers table by an alias; query-builder code uses the table itself.
  const owner = alias ? sql`${sql.identifier(alias)}.sales_owner_id` : sql`${customers.salesOwnerId}`;
  // A prepared query (db/prepared.ts) takes the viewer's values later, as `owner` and `department`.
  if (viewer.role === 'sales') return sql`${owner} = ${placeholders ? sql.placeholder('owner') : viewer.salesOwnerId}`;
  const department = placeholders ? sql.placeholder('department') : viewer.department;
  return sql`${owner} IN (SELECT ${salesOwners.id} FROM ${salesOwners} WHERE ${salesOwners.department} = ${department})`;
}

/** The sales owners a viewer sees. */
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

/** The tasks a viewer sees: by their assignee (a manager's escalations are theirs to see). */
export function taskScope(viewer: Viewer): SQL | undefined {
  if (viewer.role === 'admin') return undefined;
  if (viewer.role === 'sales') return sql`${tasks.assigneeId} = ${viewer.salesOwnerId}`;
  return sql`${tasks.assigneeId} IN (SELECT ${salesOwners.id} FROM ${salesOwners} WHERE ${salesOwners.department} = ${viewer.department})`;
}
