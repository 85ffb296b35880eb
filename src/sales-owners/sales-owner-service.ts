import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { salesOwners } from '../../db/schema/index.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import { errors, isUniqueViolation, validationError } from '../errors.ts';
import { retryOnceOnDeadlock } from '../lib/deadlock.ts';
import { assertVersion } from '../lib/versions.ts';
import { decodeCursor, toPage } from '../lib/cursor.ts';
import { canSeeOwner, salesOwnerScope, type Viewer } from '../access/access.ts';
import {
  findSalesOwnerById,
  insertSalesOwner,
  listSalesOwners as selectSalesOwners,
  managerChain,
  updateSalesOwnerAtVersion,
  type SalesOwnerRow,
} from './sales-owner-repository.ts';
import type { CreateSalesOwner, PatchSalesOwner, SalesOwner } from './sales-owner-schemas.ts';
import { moveOwnerCustomers } from '../customer-status/customer-writer.ts';
import { handOverOpenTasks } from '../tasks/task-service.ts';

export function toSalesOwner(row: SalesOwnerRow): SalesOwner {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    department: row.department,
    managerId: row.managerId,
    active: row.active,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const emailTaken = (email: string) =>
  errors.emailTaken(email, {
    errors: [{ path: 'body.email', message: 'is already used by another sales owner' }],
  });

/** A visible owner, or 404 (an invisible one does not exist for this viewer). */
export async function findVisibleOwner(db: Db, id: string, viewer: Viewer, options = { forUpdate: false }) {
  const row = await findSalesOwnerById(db, id, options);
  if (!row || !canSeeOwner(viewer, row)) throw errors.salesOwnerNotFound(id);
  return row;
}

function requireOwnDepartment(viewer: Viewer, department: string) {
  if (viewer.role === 'manager' && department !== viewer.department) {
    throw errors.forbidden(`A manager token works within its department (${viewer.department}), not ${department}`);
  }
}

async function checkManager(db: Db, viewer: Viewer, ownerId: string | null, managerId: string | null | undefined) {
  if (!managerId) return;
  if (managerId === ownerId) throw validationError([{ path: 'body.managerId', message: 'a sales owner cannot be their own manager' }]);
  const manager = await findSalesOwnerById(db, managerId);
  // A manager naming another department's owner would route escalations across departments: an owner
  // out of the caller's scope does not exist for them, here as everywhere (404, never 403), and looks
  // exactly like one that does not exist at all.
  if (!manager || !canSeeOwner(viewer, manager)) {
    throw errors.salesOwnerNotFound(managerId, { errors: [{ path: 'body.managerId', message: 'no such sales owner' }] });
  }
  if (ownerId && (await managerChain(db, managerId)).includes(ownerId)) {
    throw validationError([
      { path: 'body.managerId', message: 'would create a management cycle (this owner already manages that one, directly or indirectly)' },
    ]);
  }
}

export async function createSalesOwner(db: Db, input: CreateSalesOwner, viewer: Viewer, actor: Actor, now: Date) {
  requireOwnDepartment(viewer, input.department);
  try {
    return await db.transaction(async (tx) => {
      await checkManager(tx, viewer, null, input.managerId);
      const row = await insertSalesOwner(tx, { ...input, managerId: input.managerId ?? null, createdAt: now, updatedAt: now });
      const owner = toSalesOwner(row);
      await appendAudit(tx, actor, { action: 'sales_owner.create', entityType: 'sales_owner', entityId: row.id, after: owner }, now);
      return owner;
    });
  } catch (err) {
    if (isUniqueViolation(err, 'sales_owners_email_lower_key')) throw emailTaken(input.email);
    throw err;
  }
}

export async function getSalesOwner(db: Db, id: string, viewer: Viewer) {
  return toSalesOwner(await findVisibleOwner(db, id, viewer));
}

const OwnerCursor = z.tuple([z.string(), z.uuid()]);

export async function listSalesOwners(
  db: Db,
  query: { limit: number; cursor?: string | undefined; department?: string | undefined; active?: boolean | undefined; q?: string | undefined },
  viewer: Viewer,
) {
  const after = query.cursor ? decodeCursor(query.cursor, OwnerCursor) : undefined;
  const like = query.q ? `${query.q.toLowerCase().replace(/[\\%_]/g, '\\$&')}%` : undefined;
  const rows = await selectSalesOwners(
    db,
    [
      salesOwnerScope(viewer),
      query.department ? eq(salesOwners.department, query.department) : undefined,
      query.active === undefined ? undefined : eq(salesOwners.active, query.active),
      like ? sql`(lower(${salesOwners.name}) LIKE ${like} OR lower(${salesOwners.email}) LIKE ${like})` : undefined,
    ],
    query.limit + 1,
    after,
  );
  return toPage(rows, query.limit, toSalesOwner, (r) => [r.name, r.id]);
}

export async function updateSalesOwner(db: Db, id: string, patch: PatchSalesOwner, expectedVersion: number | null, viewer: Viewer, actor: Actor, now: Date) {
  try {
    return await db.transaction(async (tx) => {
      const current = await findVisibleOwner(tx, id, viewer, { forUpdate: true });
      assertVersion(expectedVersion, current.version);
      if (patch.department !== undefined) requireOwnDepartment(viewer, patch.department);
      if (patch.managerId !== undefined) await checkManager(tx, viewer, id, patch.managerId);
      const changes = Object.fromEntries(Object.entries(patch).filter(([k, v]) => v !== undefined && (current as Record<string, unknown>)[k] !== v));
      if (Object.keys(changes).length === 0) return toSalesOwner(current);
      const row = await updateSalesOwnerAtVersion(tx, id, current.version, changes, now);
      if (!row) throw errors.versionMismatch(current.version, 'newer');
      const after = toSalesOwner(row);
      await appendAudit(tx, actor, { action: 'sales_owner.update', entityType: 'sales_owner', entityId: id, before: toSalesOwner(current), after }, now);
      return after;
    });
  } catch (err) {
    if (isUniqueViolation(err, 'sales_owners_email_lower_key')) throw emailTaken(patch.email ?? '');
    throw err;
  }
}

/** A leaving owner's whole book — customers and open tasks — moves to another owner in one transaction. */
export async function handOver(db: Db, fromId: string, input: { toSalesOwnerId: string; deactivate: boolean }, viewer: Viewer, actor: Actor, now: Date) {
  if (fromId === input.toSalesOwnerId) {
    throw validationError([{ path: 'body.toSalesOwnerId', message: 'is the owner handing over; name someone else' }]);
  }
  // A handover locks a whole book; beside an import (which locks its batches' customers) it may still be
  // a deadlock's victim: it is undone whole, and run once more.
  return retryOnceOnDeadlock(() =>
    db.transaction(async (tx) => {
      // Both owners locked, in id order: X→Y and Y→X at once then run one after the other instead
      // of each holding one book and waiting for the other's (a deadlock).
      const [first, second] = [fromId, input.toSalesOwnerId].sort();
      await findSalesOwnerById(tx, first!, { forUpdate: true });
      await findSalesOwnerById(tx, second!, { forUpdate: true });
      const from = await findVisibleOwner(tx, fromId, viewer);
      const to = await findVisibleOwner(tx, input.toSalesOwnerId, viewer);
      if (!to.active) throw validationError([{ path: 'body.toSalesOwnerId', message: `${to.name} is inactive and cannot take customers` }]);
      const moved = await moveOwnerCustomers(tx, from.id, to.id, now);
      const movedTasks = await handOverOpenTasks(tx, from.id, to.id, now);
      if (input.deactivate && from.active) {
        await tx
          .update(salesOwners)
          .set({ active: false, version: sql`${salesOwners.version} + 1`, updatedAt: now })
          .where(eq(salesOwners.id, from.id));
      }
      await appendAudit(
        tx,
        actor,
        {
          action: 'sales_owner.handover',
          entityType: 'sales_owner',
          entityId: from.id,
          before: { salesOwnerId: from.id, active: from.active },
          after: { salesOwnerId: to.id, customerIds: moved, taskIds: movedTasks, deactivated: input.deactivate },
        },
        now,
      );
      return { customersMoved: moved.length, tasksMoved: movedTasks.length };
    }),
  );
}

/** Used by customer reassignment: refuses an inactive target. */
export async function requireActiveOwner(db: Db, id: string, viewer: Viewer, path: string) {
  const owner = await findSalesOwnerById(db, id);
  if (!owner || !canSeeOwner(viewer, owner)) throw validationError([{ path, message: `no sales owner ${id}` }]);
  if (!owner.active) throw validationError([{ path, message: `${owner.name} is inactive and cannot take customers` }]);
  return owner;
}
