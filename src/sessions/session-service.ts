import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, getTableColumns, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { apiTokens, dashboardSessions, salesOwners } from '../../db/schema/index.ts';
import type { Principal } from '../access/access.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import { errors } from '../errors.ts';
import { cursorInstant, decodeCursor, toPage } from '../lib/cursor.ts';
import { tokenProblem } from '../tokens/token-service.ts';
import { z } from 'zod';

/*
 * Dashboard sessions, the one writer of dashboard_sessions. Signing in with an API token starts a
 * session; the browser holds only the session's random secret (never the token), and the database only
 * that secret's SHA-256. A session lives at most 8 hours, ends after an hour without a request, at
 * sign-out, when an admin revokes it, and whenever its token could not be used itself (revoked, expired,
 * its sales owner deactivated).
 */

export const SESSION_ABSOLUTE_MS = 8 * 3_600_000;
export const SESSION_IDLE_MS = 3_600_000;
/** last_seen_at is written when it is this stale: not a write per page. */
const LAST_SEEN_RESOLUTION_MS = 60_000;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

export type SessionRow = typeof dashboardSessions.$inferSelect;

/** Starts a session for a token the caller has authenticated; the secret goes into the cookie, once. */
export async function startSession(db: Db, tokenId: string, userAgent: string | undefined, now: Date) {
  const secret = randomBytes(32).toString('base64url');
  const [row] = await db
    .insert(dashboardSessions)
    .values({
      tokenId,
      secretHash: hashSecret(secret),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + SESSION_ABSOLUTE_MS),
      userAgent: userAgent?.slice(0, 200) ?? null,
    })
    .returning();
  return { secret, row: row! };
}

/** The principal of a live session, or why there is none. */
export async function authenticateSession(
  db: Db,
  secret: string,
  now: Date,
): Promise<{ ok: true; principal: Principal; sessionId: string } | { ok: false; reason: string }> {
  if (!SECRET_PATTERN.test(secret)) return { ok: false, reason: 'not a session' };
  const hash = hashSecret(secret);
  const [found] = await db
    .select({ session: dashboardSessions, token: { ...getTableColumns(apiTokens) }, ownerActive: salesOwners.active })
    .from(dashboardSessions)
    .innerJoin(apiTokens, eq(apiTokens.id, dashboardSessions.tokenId))
    .leftJoin(salesOwners, eq(salesOwners.id, apiTokens.salesOwnerId))
    .where(eq(dashboardSessions.secretHash, hash))
    .limit(1);
  if (!found || !timingSafeEqual(Buffer.from(found.session.secretHash, 'hex'), Buffer.from(hash, 'hex'))) return { ok: false, reason: 'not a session' };
  const { session, token } = found;
  if (session.endedAt) return { ok: false, reason: `the session ended (${session.endReason ?? 'ended'})` };
  if (session.expiresAt <= now) return { ok: false, reason: 'the session is over 8 hours old' };
  if (now.getTime() - session.lastSeenAt.getTime() > SESSION_IDLE_MS) return { ok: false, reason: 'the session was idle for over an hour' };
  const problem = tokenProblem({ ...token, ownerActive: found.ownerActive }, now);
  if (problem) return { ok: false, reason: problem };
  if (now.getTime() - session.lastSeenAt.getTime() > LAST_SEEN_RESOLUTION_MS) {
    await db.update(dashboardSessions).set({ lastSeenAt: now }).where(eq(dashboardSessions.id, session.id));
  }
  return {
    ok: true,
    sessionId: session.id,
    principal: { tokenId: token.id, name: token.name, role: token.role, salesOwnerId: token.salesOwnerId, department: token.department },
  };
}

/** Sign-out: the session of this secret ends (nothing happens for an unknown or ended one). */
export async function endSession(db: Db, secret: string, now: Date) {
  if (!SECRET_PATTERN.test(secret)) return;
  await db
    .update(dashboardSessions)
    .set({ endedAt: now, endReason: 'signed out' })
    .where(and(eq(dashboardSessions.secretHash, hashSecret(secret)), isNull(dashboardSessions.endedAt)));
}

/** Where a session stands, for the listing: ended (signed out, revoked) and timed out are told apart. */
function stateOf(row: SessionRow, tokenRevoked: boolean, now: Date): 'active' | 'ended' | 'expired' | 'idle' | 'token revoked' {
  if (row.endedAt) return 'ended';
  if (tokenRevoked) return 'token revoked';
  if (row.expiresAt <= now) return 'expired';
  if (now.getTime() - row.lastSeenAt.getTime() > SESSION_IDLE_MS) return 'idle';
  return 'active';
}

const SessionCursor = z.tuple([cursorInstant, z.uuid()]);

/** Sessions, newest first; `active` keeps only those that can still be used. */
export async function listSessions(db: Db, query: { limit: number; cursor?: string | undefined; active?: boolean | undefined }, now: Date) {
  const after = query.cursor ? decodeCursor(query.cursor, SessionCursor) : undefined;
  const rows = await db
    .select({ session: dashboardSessions, tokenName: apiTokens.name, role: apiTokens.role, tokenRevokedAt: apiTokens.revokedAt })
    .from(dashboardSessions)
    .innerJoin(apiTokens, eq(apiTokens.id, dashboardSessions.tokenId))
    .where(
      and(
        query.active
          ? and(
              isNull(dashboardSessions.endedAt),
              isNull(apiTokens.revokedAt),
              sql`${dashboardSessions.expiresAt} > ${now}`,
              sql`${dashboardSessions.lastSeenAt} >= ${new Date(now.getTime() - SESSION_IDLE_MS)}`,
            )
          : undefined,
        after
          ? or(
              lt(dashboardSessions.createdAt, new Date(after[0])),
              and(eq(dashboardSessions.createdAt, new Date(after[0])), lt(dashboardSessions.id, after[1])),
            )
          : undefined,
      ),
    )
    .orderBy(desc(dashboardSessions.createdAt), desc(dashboardSessions.id))
    .limit(query.limit + 1);
  return toPage(
    rows,
    query.limit,
    (r) => ({
      id: r.session.id,
      tokenId: r.session.tokenId,
      tokenName: r.tokenName,
      role: r.role,
      state: stateOf(r.session, r.tokenRevokedAt !== null, now),
      createdAt: r.session.createdAt.toISOString(),
      lastSeenAt: r.session.lastSeenAt.toISOString(),
      expiresAt: r.session.expiresAt.toISOString(),
      endedAt: r.session.endedAt?.toISOString() ?? null,
      endReason: r.session.endReason,
      userAgent: r.session.userAgent,
    }),
    (r) => [r.session.createdAt.toISOString(), r.session.id],
  );
}

/** An admin ends a session; audited. Ending one already ended changes nothing. */
export async function revokeSession(db: Db, id: string, actor: Actor, now: Date) {
  await db.transaction(async (tx) => {
    const [row] = await tx.select().from(dashboardSessions).where(eq(dashboardSessions.id, id)).for('no key update');
    if (!row) throw errors.sessionNotFound(id);
    if (row.endedAt) return;
    await tx
      .update(dashboardSessions)
      .set({ endedAt: now, endReason: `revoked by ${actor.name}` })
      .where(eq(dashboardSessions.id, id));
    await appendAudit(tx, actor, { action: 'session.revoke', entityType: 'dashboard_session', entityId: id, before: { tokenId: row.tokenId } }, now);
  });
}
