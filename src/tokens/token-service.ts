import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { salesOwners } from '../../db/schema/index.ts';
import type { Role } from '../../db/schema/enums.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import { errors, validationError } from '../errors.ts';
import { findTokenByHash, findTokenById, insertToken, markTokenRevoked, touchTokenLastUsed, type TokenRow } from './token-repository.ts';

/** Tokens look like `mdt_<43 base64url chars>`: 32 random bytes, recognisable in secret scanners. */
export const TOKEN_PREFIX = 'mdt_';
const TOKEN_PATTERN = /^mdt_[A-Za-z0-9_-]{43}$/;

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export interface NewToken {
  name: string;
  role: Role;
  /**
   * Required for a sales token: whose customers it sees. Optional for a manager token: the manager's
   * own sales-owner record, who `assignee=me` is and whom the escalations of their owners reach (the
   * token still sees its whole department).
   */
  salesOwnerId?: string | undefined;
  department?: string | undefined;
  expiresAt?: Date | undefined;
}

/** The public view of a token: never its hash. */
export function describeToken(row: TokenRow) {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    salesOwnerId: row.salesOwnerId,
    department: row.department,
    tokenPrefix: row.tokenPrefix,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    lastUsedAt: row.lastUsedAt,
  };
}

/** Creates a token and returns it in clear text: the only time anyone sees it. */
export async function createToken(db: Db, input: NewToken, actor: Actor, now: Date = new Date()) {
  const problems = [];
  if (input.name.trim() === '') problems.push({ path: 'name', message: 'must not be empty' });
  if (input.role === 'sales' && !input.salesOwnerId) {
    problems.push({ path: 'salesOwnerId', message: 'a sales token must be bound to a sales owner' });
  }
  if (input.role === 'admin' && input.salesOwnerId) {
    problems.push({ path: 'salesOwnerId', message: 'an admin token is bound to no sales owner (a sales or a manager token may be)' });
  }
  if (input.role === 'manager' && !input.department?.trim()) {
    problems.push({ path: 'department', message: 'a manager token must be bound to a department' });
  }
  if (input.role !== 'manager' && input.department) {
    problems.push({ path: 'department', message: 'only a manager token is bound to a department' });
  }
  if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) {
    problems.push({ path: 'expiresAt', message: 'must be in the future' });
  }
  if (problems.length > 0) throw validationError(problems);

  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return db.transaction(async (tx) => {
    if (input.salesOwnerId) {
      const [owner] = await tx
        .select({ id: salesOwners.id, active: salesOwners.active, department: salesOwners.department })
        .from(salesOwners)
        .where(eq(salesOwners.id, input.salesOwnerId));
      if (!owner) throw errors.salesOwnerNotFound(input.salesOwnerId);
      // Its token would be refused at once (see tokenProblem): say so now.
      if (!owner.active) throw validationError([{ path: 'salesOwnerId', message: 'is a deactivated sales owner; reactivate them first' }]);
      // A manager's own record is who "me" is and where the escalations of their owners land; it must
      // be in the department the token sees, or the manager could not see their own tasks.
      if (input.role === 'manager' && owner.department !== input.department?.trim()) {
        throw validationError([
          {
            path: 'salesOwnerId',
            message: `is a sales owner of ${owner.department}; a manager token of ${input.department?.trim()} is bound to one of its own department`,
          },
        ]);
      }
    }
    const row = await insertToken(tx, {
      name: input.name.trim(),
      role: input.role,
      salesOwnerId: input.salesOwnerId ?? null,
      department: input.department?.trim() ?? null,
      tokenHash: hashToken(token),
      tokenPrefix: token.slice(0, TOKEN_PREFIX.length + 6),
      createdBy: actor.name,
      expiresAt: input.expiresAt ?? null,
      createdAt: now,
    });
    await appendAudit(tx, actor, { action: 'token.create', entityType: 'api_token', entityId: row.id, after: describeToken(row) }, now);
    return { token, row };
  });
}

/** One token's record (never the token itself), or 404. */
export async function getToken(db: Db, id: string) {
  const row = await findTokenById(db, id);
  if (!row) throw errors.tokenNotFound(id);
  return row;
}

export async function revokeToken(db: Db, id: string, actor: Actor, now: Date) {
  return db.transaction(async (tx) => {
    const before = await findTokenById(tx, id);
    if (!before) throw errors.tokenNotFound(id);
    if (before.revokedAt) return before;
    const after = (await markTokenRevoked(tx, id, now))!;
    await appendAudit(
      tx,
      actor,
      {
        action: 'token.revoke',
        entityType: 'api_token',
        entityId: id,
        before: describeToken(before),
        after: describeToken(after),
      },
      now,
    );
    return after;
  });
}

/** Why a known token may not be used now (revoked, expired, its sales owner deactivated), or undefined. */
export function tokenProblem(row: Pick<TokenRow, 'revokedAt' | 'expiresAt'> & { ownerActive: boolean | null }, now: Date): string | undefined {
  if (row.revokedAt) return 'The bearer token has been revoked';
  if (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) return 'The bearer token has expired';
  // A rep who left (deactivated, say by a handover) loses the API with their customers.
  if (row.ownerActive === false) return 'The bearer token belongs to a sales owner who has been deactivated';
  return undefined;
}

/** Only write last-used when it is stale by this much, so authentication is not a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Finds the live token for a bearer string, or says why there is none. The hash is compared in
 * constant time even though it was looked up by value, so the check does not depend on the index.
 */
export async function authenticateToken(db: Db, token: string, now: Date): Promise<{ ok: true; row: TokenRow } | { ok: false; reason: string }> {
  if (!TOKEN_PATTERN.test(token)) return { ok: false, reason: 'The bearer token is malformed' };
  const hash = hashToken(token);
  const row = await findTokenByHash(db, hash);
  if (!row || !timingSafeEqual(Buffer.from(row.tokenHash, 'hex'), Buffer.from(hash, 'hex'))) {
    return { ok: false, reason: 'The bearer token is not known' };
  }
  const problem = tokenProblem(row, now);
  if (problem) return { ok: false, reason: problem };
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    await touchTokenLastUsed(db, row.id, now);
  }
  return { ok: true, row };
}
