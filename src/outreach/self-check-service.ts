import { createHash, randomUUID } from 'node:crypto';
import { and, desc, eq, gt, isNotNull, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { domains, selfCheckLinks } from '../../db/schema/index.ts';
import type { Viewer } from '../access/access.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import { getCustomer, requireVisibleCustomer } from '../customers/customer-service.ts';
import { getDomain, requestDomainCheck } from '../domains/domain-service.ts';
import { errors, isAppError } from '../errors.ts';
import { getProgram } from '../programs/program-service.ts';
import { domainActions } from './domain-actions.ts';
import { linkToken } from './link-key.ts';

/*
 * Self-check links: the one module that writes self_check_links. A rep gives a customer's DNS
 * administrator a link to /check/{token}; the page shows that one customer's domains (what to change,
 * what is done) and can ask for a re-check, nothing else. The token is 256 bits (an HMAC of the link's
 * random id under LINK_SECRET); the table keeps only its SHA-256, so it cannot be turned back into links.
 */

export const SELF_CHECK_DEFAULT_DAYS = 60;
/** The page's "check again now": at most once a minute and this many times an hour, per link. */
export const RECHECK_INTERVAL_MS = 60_000;
export const RECHECKS_PER_HOUR = 10;
const HOUR_MS = 3_600_000;

type LinkRow = typeof selfCheckLinks.$inferSelect;

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

export type LinkState = 'active' | 'expired' | 'revoked';

function stateOf(row: LinkRow, now: Date): LinkState {
  if (row.revokedAt) return 'revoked';
  return row.expiresAt <= now ? 'expired' : 'active';
}

const toLink = (row: LinkRow, now: Date) => ({
  id: row.id,
  customerId: row.customerId,
  state: stateOf(row, now),
  createdAt: row.createdAt.toISOString(),
  createdBy: row.createdBy,
  expiresAt: row.expiresAt.toISOString(),
  revokedAt: row.revokedAt?.toISOString() ?? null,
  revokedBy: row.revokedBy,
  lastOpenedAt: row.lastOpenedAt?.toISOString() ?? null,
});
export type SelfCheckLink = ReturnType<typeof toLink>;

/**
 * A new link for a customer the viewer sees, and its token. The token (an HMAC of the link's id under
 * `secret`, LINK_SECRET) is not stored, only its hash; `urlTokenOf` makes it again for a notice.
 */
export async function createSelfCheckLink(
  db: Db,
  customerId: string,
  input: { expiresInDays: number },
  viewer: Viewer,
  actor: Actor,
  now: Date,
  secret: string | undefined,
) {
  return db.transaction(async (tx) => {
    await requireVisibleCustomer(tx, customerId, viewer);
    const id = randomUUID();
    const token = await linkToken(tx, id, secret);
    const [row] = await tx
      .insert(selfCheckLinks)
      .values({
        id,
        customerId,
        tokenHash: hashOf(token),
        createdAt: now,
        createdBy: actor.name,
        expiresAt: new Date(now.getTime() + input.expiresInDays * 24 * HOUR_MS),
      })
      .returning();
    const link = toLink(row!, now);
    await appendAudit(tx, actor, { action: 'self_check_link.create', entityType: 'customer', entityId: customerId, after: link }, now);
    return { link, token };
  });
}

/** The customer's newest live link with its token (for a notice), or null when it has none. */
export async function liveLinkOf(db: Db, customerId: string, now: Date, secret: string | undefined) {
  const [row] = await db
    .select()
    .from(selfCheckLinks)
    .where(and(eq(selfCheckLinks.customerId, customerId), isNull(selfCheckLinks.revokedAt), gt(selfCheckLinks.expiresAt, now)))
    .orderBy(desc(selfCheckLinks.createdAt))
    .limit(1);
  return row ? { link: toLink(row, now), token: await linkToken(db, row.id, secret) } : null;
}

/** A customer's links, newest first, without their tokens. */
export async function listSelfCheckLinks(db: Db, customerId: string, viewer: Viewer, now: Date) {
  await requireVisibleCustomer(db, customerId, viewer);
  const rows = await db.select().from(selfCheckLinks).where(eq(selfCheckLinks.customerId, customerId)).orderBy(desc(selfCheckLinks.createdAt));
  return rows.map((r) => toLink(r, now));
}

/** One link of a customer the viewer sees (never its URL). */
export async function getSelfCheckLink(db: Db, customerId: string, linkId: string, viewer: Viewer, now: Date) {
  await requireVisibleCustomer(db, customerId, viewer);
  const [row] = await db
    .select()
    .from(selfCheckLinks)
    .where(and(eq(selfCheckLinks.id, linkId), eq(selfCheckLinks.customerId, customerId)));
  if (!row) throw errors.selfCheckLinkNotFound(linkId);
  return toLink(row, now);
}

/** Revokes a link at once (revoking it again changes nothing). */
export async function revokeSelfCheckLink(db: Db, customerId: string, linkId: string, viewer: Viewer, actor: Actor, now: Date) {
  return db.transaction(async (tx) => {
    await requireVisibleCustomer(tx, customerId, viewer);
    const [row] = await tx
      .select()
      .from(selfCheckLinks)
      .where(and(eq(selfCheckLinks.id, linkId), eq(selfCheckLinks.customerId, customerId)))
      .for('no key update');
    if (!row) throw errors.selfCheckLinkNotFound(linkId);
    if (row.revokedAt) return toLink(row, now);
    const [revoked] = await tx.update(selfCheckLinks).set({ revokedAt: now, revokedBy: actor.name }).where(eq(selfCheckLinks.id, linkId)).returning();
    const link = toLink(revoked!, now);
    await appendAudit(
      tx,
      actor,
      { action: 'self_check_link.revoke', entityType: 'customer', entityId: customerId, before: toLink(row, now), after: link },
      now,
    );
    return link;
  });
}

/**
 * The link's row when it is live, else the one answer for unknown, expired and revoked alike. The
 * page sees exactly one customer, so it reads through a viewer that sees all and asks only for that one.
 */
async function liveLink(db: Db, token: string, now: Date, lock = false) {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) throw errors.selfCheckGone();
  const query = db
    .select()
    .from(selfCheckLinks)
    .where(eq(selfCheckLinks.tokenHash, hashOf(token)));
  const [row] = lock ? await query.for('no key update') : await query;
  if (!row || stateOf(row, now) !== 'active') throw errors.selfCheckGone();
  return row;
}
const linkViewer: Viewer = { role: 'admin', salesOwnerId: null, department: null };
const linkActor = (row: LinkRow): Actor => ({ name: `self-check-link:${row.id}` });

/** What the page shows: the customer's name, the program's dates, and per domain what to change. */
export async function openSelfCheck(db: Db, token: string, now: Date) {
  const link = await liveLink(db, token, now);
  await db.update(selfCheckLinks).set({ lastOpenedAt: now }).where(eq(selfCheckLinks.id, link.id));
  const customer = await getCustomer(db, link.customerId, linkViewer);
  const program = await getProgram(db, customer.programId);
  const rows = await Promise.all(customer.domains.map((d) => getDomain(db, d.id, linkViewer)));
  // A domain asked to be checked since its last check: the page says so, and reloads itself.
  const [pendingRow] = await db
    .select({ id: domains.id })
    .from(domains)
    .where(
      and(
        eq(domains.customerId, customer.id),
        isNull(domains.archivedAt),
        isNotNull(domains.onDemandRequestedAt),
        or(isNull(domains.lastCheckedAt), lt(domains.lastCheckedAt, domains.onDemandRequestedAt)),
      ),
    )
    .limit(1);
  const expected = { successorMxHostSuffixes: program.successor.mxHostSuffixes, successorDkimSelectors: program.successor.dkimSelectors };
  const recent = link.recheckedAt.filter((at) => now.getTime() - at.getTime() < HOUR_MS);
  return {
    customerName: customer.name,
    program: {
      legacyService: program.legacyService,
      successorService: program.successorService,
      shutdownAt: program.shutdownAt,
      spfRecordDeletionAt: program.spfRecordDeletionAt,
      timezone: program.timezone,
    },
    domains: rows.map((d) => domainActions(d, expected)),
    /** A re-check was asked for and has not finished for every domain yet. */
    pending: Boolean(pendingRow),
    expiresAt: link.expiresAt.toISOString(),
    nextRecheckAt: nextRecheck(recent, now)?.toISOString() ?? null,
  };
}
export type SelfCheckView = Awaited<ReturnType<typeof openSelfCheck>>;

/** When the next re-check is allowed, given the last hour's (newest first); null: now. */
function nextRecheck(recent: Date[], now: Date): Date | null {
  const waits: number[] = [];
  if (recent[0] && now.getTime() - recent[0].getTime() < RECHECK_INTERVAL_MS) waits.push(recent[0].getTime() + RECHECK_INTERVAL_MS);
  if (recent.length >= RECHECKS_PER_HOUR) waits.push(recent[RECHECKS_PER_HOUR - 1]!.getTime() + HOUR_MS);
  return waits.length > 0 ? new Date(Math.max(...waits)) : null;
}

/**
 * "Check again now": every live domain of the link's customer is queued for a check, as a rep's
 * re-check is (a clean result closes the rep's task and tells them, as any clean check does). A
 * domain someone queued in the last minute is already on its way and is not queued twice.
 */
export async function recheckSelfCheck(db: Db, token: string, now: Date) {
  return db.transaction(async (tx) => {
    const link = await liveLink(tx, token, now, true);
    const recent = link.recheckedAt.filter((at) => now.getTime() - at.getTime() < HOUR_MS);
    const next = nextRecheck(recent, now);
    if (next) {
      const retryAfter = Math.ceil((next.getTime() - now.getTime()) / 1000);
      throw errors.recheckTooSoon(RECHECKS_PER_HOUR, retryAfter, { headers: { 'retry-after': String(retryAfter) } });
    }
    await tx
      .update(selfCheckLinks)
      .set({ recheckedAt: [now, ...recent] })
      .where(eq(selfCheckLinks.id, link.id));
    const customer = await getCustomer(tx, link.customerId, linkViewer);
    let queued = 0;
    for (const d of customer.domains) {
      try {
        await requestDomainCheck(tx, d.id, linkViewer, linkActor(link), now);
        queued++;
      } catch (err) {
        if (!isAppError(err, 'checkTooSoon')) throw err;
      }
    }
    return { queued };
  });
}
