import { and, asc, eq, sql, type SQL } from 'drizzle-orm';
import { rowsOf, type Db } from '../../db/client.ts';
import { salesOwners } from '../../db/schema/index.ts';

export type SalesOwnerRow = typeof salesOwners.$inferSelect;

export const findSalesOwnerById = async (db: Db, id: string, { forUpdate = false } = {}) => {
  const query = db.select().from(salesOwners).where(eq(salesOwners.id, id));
  return (await (forUpdate ? query.for('no key update') : query))[0];
};

export async function insertSalesOwner(db: Db, values: typeof salesOwners.$inferInsert) {
  const [row] = await db.insert(salesOwners).values(values).returning();
  return row!;
}

export async function updateSalesOwnerAtVersion(db: Db, id: string, version: number, values: Partial<typeof salesOwners.$inferInsert>, now: Date) {
  const [row] = await db
    .update(salesOwners)
    .set({ ...values, version: sql`${salesOwners.version} + 1`, updatedAt: now })
    .where(and(eq(salesOwners.id, id), eq(salesOwners.version, version)))
    .returning();
  return row;
}

/** Ordered by name then id; `after` is the (name, id) of the previous page's last row. */
export function listSalesOwners(db: Db, where: (SQL | undefined)[], limit: number, after?: [string, string]) {
  return db
    .select()
    .from(salesOwners)
    .where(and(...where, after ? sql`(${salesOwners.name}, ${salesOwners.id}) > (${after[0]}, ${after[1]}::uuid)` : undefined))
    .orderBy(asc(salesOwners.name), asc(salesOwners.id))
    .limit(limit);
}

/** The chain of managers above `id` (nearest first), stopping at a repeat. */
export async function managerChain(db: Db, id: string): Promise<string[]> {
  const result = await db.execute<{ id: string }>(sql`
    WITH RECURSIVE chain(id, depth, path) AS (
      SELECT manager_id, 1, ARRAY[id] FROM sales_owners WHERE id = ${id} AND manager_id IS NOT NULL
      UNION ALL
      SELECT s.manager_id, c.depth + 1, c.path || s.id
      FROM chain c JOIN sales_owners s ON s.id = c.id
      WHERE s.manager_id IS NOT NULL AND NOT s.id = ANY(c.path) AND c.depth < 1000
    )
    SELECT id FROM chain ORDER BY depth`);
  return rowsOf<{ id: string }>(result).map((r) => r.id);
}
