import { and, asc, desc, eq, inArray, isNotNull, isNull, lt } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { customers, dnsChecks, domains, programs, tasks } from '../../db/schema/index.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import { mixedScriptLabels } from '../lib/lookalikes.ts';
import { errors } from '../errors.ts';
import { normalizeDnsName } from '../dns/dns-name.ts';
import type { DnsLookup } from '../dns/resolver.ts';
import { testSpf, type SpfTestQuestion } from '../dns/spf-test.ts';
import { decodeCursor, toPage } from '../lib/cursor.ts';
import { customerScope, type Viewer } from '../access/access.ts';
import { enqueueInOutbox } from '../outbox/outbox-repository.ts';
import type { Domain } from '../domains/domain-schemas.ts';
import { bumpCustomerVersion } from '../customer-status/customer-writer.ts';
import { closeCleanupTasksIfClean, closeTasks } from '../tasks/task-service.ts';

export type DomainRow = typeof domains.$inferSelect;

export const toDomainSummary = (row: DomainRow) => ({
  id: row.id,
  name: row.name,
  displayName: row.displayName,
  latestVerdict: row.latestVerdict,
  lastCheckedAt: row.lastCheckedAt?.toISOString() ?? null,
  lastDeterminedAt: row.lastDeterminedAt?.toISOString() ?? null,
  mixedScriptLabels: mixedScriptLabels(row.displayName),
});

export const toDomain = (row: DomainRow): Domain => ({
  ...toDomainSummary(row),
  customerId: row.customerId,
  programId: row.programId,
  nextCheckAt: row.nextCheckAt.toISOString(),
  consecutiveFailures: row.consecutiveFailures,
  notFoundDismissal:
    row.notFoundDismissedAt && row.notFoundDismissedBy && row.notFoundDismissalReason
      ? { at: row.notFoundDismissedAt.toISOString(), by: row.notFoundDismissedBy, reason: row.notFoundDismissalReason }
      : null,
  archived: row.archivedAt ? { at: row.archivedAt.toISOString(), by: row.archivedBy ?? 'unknown' } : null,
  createdAt: row.createdAt.toISOString(),
});

/**
 * Adds normalized domains to a customer. A name another customer of the program already has is a
 * 409 naming that customer — by name only if the viewer may see it, so nothing leaks.
 */
export async function insertDomains(
  tx: Db,
  customer: { id: string; programId: string },
  asciiNames: string[],
  viewer: Viewer,
  now: Date,
): Promise<DomainRow[]> {
  if (asciiNames.length === 0) return [];
  const taken = await refuseTaken(tx, customer, asciiNames, viewer);
  const fresh = asciiNames.filter((n) => !taken.some((t) => t.name === n));
  if (fresh.length === 0) return [];
  const inserted = await tx
    .insert(domains)
    .values(
      fresh.map((name) => {
        const normalized = normalizeDnsName(name);
        return {
          programId: customer.programId,
          customerId: customer.id,
          name,
          displayName: normalized.ok ? normalized.unicode : name,
          nextCheckAt: now,
          createdAt: now,
          updatedAt: now,
        };
      }),
    )
    // Another customer's request may add the same name at the same moment: the unique key decides,
    // and the loser gets the same 409 as if it had come second.
    .onConflictDoNothing({ target: [domains.programId, domains.name], where: live })
    .returning();
  if (inserted.length < fresh.length) await refuseTaken(tx, customer, fresh, viewer);
  return inserted;
}

/** The names already in the program (live domains); one held by another customer is a 409 naming it (by name only where the viewer may see it). */
async function refuseTaken(tx: Db, customer: { id: string; programId: string }, asciiNames: string[], viewer: Viewer, path = 'body.name') {
  const taken = await tx
    .select({ name: domains.name, customerId: domains.customerId, customerName: customers.name, externalRef: customers.externalRef })
    .from(domains)
    .innerJoin(customers, eq(customers.id, domains.customerId))
    .where(and(eq(domains.programId, customer.programId), inArray(domains.name, asciiNames), live));
  const conflict = taken.find((t) => t.customerId !== customer.id);
  if (conflict) {
    const [visible] = await tx
      .select({ id: customers.id })
      .from(customers)
      .where(and(eq(customers.id, conflict.customerId), customerScope(viewer)));
    const who = visible ? `customer ${conflict.externalRef} (${conflict.customerName}, id ${conflict.customerId})` : 'another customer you cannot see';
    throw errors.domainTaken(conflict.name, who, {
      errors: [{ path, message: `already belongs to ${who}` }],
      ...(visible ? { customerId: conflict.customerId } : {}),
    });
  }
  return taken;
}

/** Domains not archived: the only ones lists, readiness, sweeps and name uniqueness count. */
const live = isNull(domains.archivedAt);

/** A domain the viewer may see, archived or not (its evidence stays readable). */
async function findVisibleDomain(db: Db, id: string, viewer: Viewer) {
  const [row] = await db
    .select({ domain: domains })
    .from(domains)
    .innerJoin(customers, eq(customers.id, domains.customerId))
    .where(and(eq(domains.id, id), customerScope(viewer)));
  if (!row) throw errors.domainNotFound(id);
  return row.domain;
}

export async function addDomain(db: Db, customerId: string, name: string, viewer: Viewer, actor: Actor, now: Date) {
  return db.transaction(async (tx) => {
    const [customer] = await tx
      .select()
      .from(customers)
      .where(and(eq(customers.id, customerId), customerScope(viewer)))
      .for('no key update');
    if (!customer) throw errors.customerNotFound(customerId);
    const [row] = await insertDomains(tx, customer, [name], viewer, now);
    if (!row) {
      throw errors.domainExists(name, 'domain', {
        errors: [{ path: 'body.name', message: 'is already a domain of this customer' }],
      });
    }
    await bumpCustomerVersion(tx, customer.id, now);
    const domain = toDomain(row);
    await appendAudit(tx, actor, { action: 'domain.create', entityType: 'domain', entityId: row.id, after: domain }, now);
    return domain;
  });
}

const toCheckSummary = (c: typeof dnsChecks.$inferSelect) => ({
  id: c.id,
  checkedAt: c.checkedAt.toISOString(),
  outcome: c.outcome,
  verdict: c.verdict,
  mxState: c.mxState,
  spfState: c.spfState,
  durationMs: c.durationMs,
  resolver: c.resolver,
  trigger: c.trigger,
  verdictChanged: c.verdictChanged,
});

/** A domain with its latest evidence: the last check's full report (fix guidance included). */
export async function getDomain(db: Db, id: string, viewer: Viewer) {
  const row = await findVisibleDomain(db, id, viewer);
  const [latest] = await db.select().from(dnsChecks).where(eq(dnsChecks.domainId, id)).orderBy(desc(dnsChecks.checkedAt), desc(dnsChecks.id)).limit(1);
  return { ...toDomain(row), latestCheck: latest ? { ...toCheckSummary(latest), result: latest.result as Record<string, unknown> } : null };
}

/** The checks of a domain, newest first. */
export async function listDomainChecks(db: Db, id: string, viewer: Viewer, limit: number, cursor?: string) {
  await findVisibleDomain(db, id, viewer);
  const before = cursor ? decodeCursor(cursor, z.tuple([z.number().int().min(0)]))[0] : undefined;
  const rows = await db
    .select()
    .from(dnsChecks)
    .where(and(eq(dnsChecks.domainId, id), before === undefined ? undefined : lt(dnsChecks.id, before)))
    .orderBy(desc(dnsChecks.id))
    .limit(limit + 1);
  return toPage(rows, limit, toCheckSummary, (r) => [r.id]);
}

/** An on-demand check is at most once a minute per domain. */
export const ON_DEMAND_INTERVAL_MS = 60_000;

/** An archived domain is evidence only: it is not checked, dismissed or changed until an admin restores it. */
function refuseArchived(domain: DomainRow, what: string) {
  if (domain.archivedAt) {
    throw errors.domainArchived(domain.displayName, domain.archivedAt.toISOString(), what);
  }
}

/** Queues a check now (through the outbox); 429 with Retry-After when the last request is under a minute old. */
export async function requestDomainCheck(db: Db, id: string, viewer: Viewer, actor: Actor, now: Date) {
  return db.transaction(async (tx) => {
    const visible = await findVisibleDomain(tx, id, viewer);
    const [domain] = await tx.select().from(domains).where(eq(domains.id, visible.id)).for('no key update');
    refuseArchived(domain!, 'it is checked again');
    const last = domain!.onDemandRequestedAt?.getTime();
    if (last !== undefined && now.getTime() - last < ON_DEMAND_INTERVAL_MS) {
      const retryAfter = Math.ceil((last + ON_DEMAND_INTERVAL_MS - now.getTime()) / 1000);
      throw errors.checkTooSoon(domain!.name, retryAfter, {
        headers: { 'retry-after': String(retryAfter) },
      });
    }
    await tx.update(domains).set({ onDemandRequestedAt: now }).where(eq(domains.id, id));
    const jobId = `check-${id}-od-${now.getTime()}`;
    await enqueueInOutbox(tx, 'probes', 'probe-domain', { domainId: id, trigger: 'on_demand' }, jobId, now);
    await appendAudit(
      tx,
      actor,
      { action: 'domain.check_requested', entityType: 'domain', entityId: id, after: { jobId, customerId: domain!.customerId } },
      now,
    );
    return { jobId };
  });
}

/**
 * A manager or admin confirms that a domain the checks find missing from DNS (domain_not_found) is
 * expected to be gone, so it stops holding the readiness gates shut. Refused (409) unless the latest
 * verdict is domain_not_found; a later determined check that finds the domain clears it again.
 * Dismissing again replaces the reason (the audit keeps the earlier one).
 */
export async function dismissNotFound(db: Db, id: string, reason: string, viewer: Viewer, actor: Actor, now: Date) {
  return db.transaction(async (tx) => {
    const visible = await findVisibleDomain(tx, id, viewer);
    const [domain] = await tx.select().from(domains).where(eq(domains.id, visible.id)).for('no key update');
    refuseArchived(domain!, 'its verdict is dismissed');
    if (domain!.latestVerdict !== 'domain_not_found') throw errors.notFoundDismissalConflict(domain!.name, domain!.latestVerdict ?? 'not checked yet');
    const [row] = await tx
      .update(domains)
      .set({ notFoundDismissedAt: now, notFoundDismissedBy: actor.name, notFoundDismissalReason: reason, updatedAt: now })
      .where(eq(domains.id, id))
      .returning();
    const after = toDomain(row!);
    const customerId = row!.customerId;
    await appendAudit(
      tx,
      actor,
      {
        action: 'domain.not_found_dismissed',
        entityType: 'domain',
        entityId: id,
        before: { notFoundDismissal: toDomain(domain!).notFoundDismissal, customerId },
        after: { notFoundDismissal: after.notFoundDismissal, customerId },
      },
      now,
    );
    return after;
  });
}

/**
 * Deleting a domain archives it: it leaves the customer, the lists, readiness and the sweeps, and its
 * name is free again, but its checks, tasks and audit stay (nothing in the API removes evidence). Its
 * open tasks close, and the customer's clean-up task too if no live domain needs one any more.
 */
export async function archiveDomain(db: Db, id: string, viewer: Viewer, actor: Actor, now: Date) {
  await db.transaction(async (tx) => {
    const visible = await findVisibleDomain(tx, id, viewer);
    const [row] = await tx.select().from(domains).where(eq(domains.id, visible.id)).for('no key update');
    refuseArchived(row!, 'anything else');
    const [archived] = await tx.update(domains).set({ archivedAt: now, archivedBy: actor.name, updatedAt: now }).where(eq(domains.id, id)).returning();
    await closeTasks(tx, eq(tasks.domainId, id), 'the domain was deleted (archived)', now);
    await closeCleanupTasksIfClean(tx, [row!.customerId], now);
    await bumpCustomerVersion(tx, row!.customerId, now);
    await appendAudit(tx, actor, { action: 'domain.archive', entityType: 'domain', entityId: id, before: toDomain(row!), after: toDomain(archived!) }, now);
  });
}

/**
 * An admin brings an archived domain back to its customer: checked again at once. Refused (409) while
 * another customer of the program holds the name, or when the domain is not archived.
 */
export async function restoreDomain(db: Db, id: string, viewer: Viewer, actor: Actor, now: Date) {
  return db.transaction(async (tx) => {
    const visible = await findVisibleDomain(tx, id, viewer);
    const [row] = await tx.select().from(domains).where(eq(domains.id, visible.id)).for('no key update');
    if (!row!.archivedAt) throw errors.domainNotArchived(row!.displayName);
    await tx.select({ id: customers.id }).from(customers).where(eq(customers.id, row!.customerId)).for('no key update');
    const taken = await refuseTaken(tx, { id: row!.customerId, programId: row!.programId }, [row!.name], viewer, 'path.id');
    if (taken.length > 0) {
      throw errors.domainExists(row!.displayName, 'live domain', {
        errors: [{ path: 'path.id', message: 'the customer has this name again' }],
      });
    }
    const [restored] = await tx
      .update(domains)
      .set({ archivedAt: null, archivedBy: null, nextCheckAt: now, updatedAt: now })
      .where(eq(domains.id, id))
      .returning();
    await bumpCustomerVersion(tx, row!.customerId, now);
    const domain = toDomain(restored!);
    await appendAudit(tx, actor, { action: 'domain.restore', entityType: 'domain', entityId: id, before: toDomain(row!), after: domain }, now);
    return domain;
  });
}

/** The archived domains of a customer the viewer may see, newest archived first. */
export async function listArchivedDomains(db: Db, customerId: string, viewer: Viewer) {
  const [customer] = await db
    .select({ id: customers.id })
    .from(customers)
    .where(and(eq(customers.id, customerId), customerScope(viewer)));
  if (!customer) throw errors.customerNotFound(customerId);
  const rows = await db
    .select()
    .from(domains)
    .where(and(eq(domains.customerId, customerId), isNotNull(domains.archivedAt)))
    .orderBy(desc(domains.archivedAt), asc(domains.name));
  return rows.map(toDomain);
}

/** "Will mail from this server still pass?": check_host() for one client, today and after the deletion. */
export async function spfTestDomain(db: Db, dns: DnsLookup, id: string, viewer: Viewer, question: SpfTestQuestion, now: Date) {
  const domain = await findVisibleDomain(db, id, viewer);
  const [program] = await db.select({ legacySpfIncludes: programs.legacySpfIncludes }).from(programs).where(eq(programs.id, domain.programId));
  return testSpf(domain.name, program!, dns, question, now);
}
