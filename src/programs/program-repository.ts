import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { programs } from '../../db/schema/index.ts';

export type ProgramRow = typeof programs.$inferSelect;
export type ProgramValues = Omit<typeof programs.$inferInsert, 'id' | 'version' | 'createdAt' | 'updatedAt'>;

export async function insertProgram(db: Db, values: ProgramValues, now: Date): Promise<ProgramRow> {
  const [row] = await db
    .insert(programs)
    .values({ ...values, createdAt: now, updatedAt: now })
    .returning();
  return row!;
}

export const findProgramById = async (db: Db, id: string, { forUpdate = false } = {}) => {
  const query = db.select().from(programs).where(eq(programs.id, id));
  return (await (forUpdate ? query.for('no key update') : query))[0];
};

/** Newest first; `after` is the (createdAt, id) of the last row of the previous page. */
export function listPrograms(db: Db, limit: number, after?: { createdAt: Date; id: string }) {
  return db
    .select()
    .from(programs)
    .where(after ? sql`(${programs.createdAt}, ${programs.id}) < (${after.createdAt.toISOString()}::timestamptz, ${after.id}::uuid)` : undefined)
    .orderBy(desc(programs.createdAt), desc(programs.id))
    .limit(limit);
}

/** Updates only if the row still has `version`; returns undefined otherwise. */
export async function updateProgramAtVersion(db: Db, id: string, version: number, values: Partial<ProgramValues>, now: Date) {
  const [row] = await db
    .update(programs)
    .set({ ...values, version: sql`${programs.version} + 1`, updatedAt: now })
    .where(and(eq(programs.id, id), eq(programs.version, version)))
    .returning();
  return row;
}
