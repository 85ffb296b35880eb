import { desc, eq, getTableColumns, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { prepared } from '../../db/prepared.ts';
import { apiTokens, salesOwners } from '../../db/schema/index.ts';

export type TokenRow = typeof apiTokens.$inferSelect;

/**
 * Every authenticated request runs this: prepared once (see db/prepared.ts). With the token, whether
 * the sales owner it is bound to is still active (null: bound to none).
 */
export const findTokenByHash = async (db: Db, tokenHash: string) =>
  (
    await prepared(db, 'token_by_hash_with_owner', (d) =>
      d
        .select({ ...getTableColumns(apiTokens), ownerActive: salesOwners.active })
        .from(apiTokens)
        .leftJoin(salesOwners, eq(salesOwners.id, apiTokens.salesOwnerId))
        .where(eq(apiTokens.tokenHash, sql.placeholder('hash')))
        .limit(1)
        .prepare('token_by_hash_with_owner'),
    ).execute({ hash: tokenHash })
  )[0];

export const findTokenById = async (db: Db, id: string) => (await db.select().from(apiTokens).where(eq(apiTokens.id, id)).limit(1))[0];

export const listTokens = (db: Db) => db.select().from(apiTokens).orderBy(desc(apiTokens.createdAt));

export const countTokens = async (db: Db) => db.$count(apiTokens);

export async function insertToken(db: Db, row: typeof apiTokens.$inferInsert) {
  const [created] = await db.insert(apiTokens).values(row).returning();
  return created!;
}

export async function markTokenRevoked(db: Db, id: string, at: Date) {
  const [row] = await db.update(apiTokens).set({ revokedAt: at }).where(eq(apiTokens.id, id)).returning();
  return row;
}

export async function touchTokenLastUsed(db: Db, id: string, at: Date) {
  await db.update(apiTokens).set({ lastUsedAt: at }).where(eq(apiTokens.id, id));
}
