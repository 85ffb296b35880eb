import { and, desc, eq, inArray, lt, notInArray, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { rowsOf, type Db } from '../../db/client.ts';
import { customers, dnsChecks, domains, programs, statusEvents, tasks } from '../../db/schema/index.ts';
import type { CustomerStatus } from '../../db/schema/enums.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import { checkDomain, type DomainCheck } from '../dns/check-domain.ts';
import type { DnsLookup } from '../dns/resolver.ts';
import { closeCleanupTasksIfClean, closeTasksOfFinalCustomer } from '../tasks/task-service.ts';
import { CONFIRM_MS, nextCheckAt } from './check-cadence.ts';

export const SYSTEM_DNS: Actor = { name: 'system:dns' };
/** dns_checks kept per domain besides those that changed the verdict. */
export const KEEP_CHECKS = 30;
const UNABLE_AFTER_FAILURES = 3;

export interface ProbeDeps {
  db: Db;
  dns: DnsLookup;
  now: () => Date;
  log: FastifyBaseLogger;
}

export interface ProbeSummary {
  checkId: number;
  outcome: 'determined' | 'error';
  verdict: DomainCheck['verdict'];
  verdictChanged: boolean;
  tasksCreated: string[];
  customerMovedTo: CustomerStatus | null;
}

/**
 * Checks one domain and records the evidence. A DNS failure never overwrites a determined verdict:
 * the attempt is stored, the verdict stays, the failure counter grows. Returns null for a domain that
 * no longer exists.
 */
export async function probeDomain(deps: ProbeDeps, domainId: string, trigger: 'sweep' | 'on_demand' | 'cli'): Promise<ProbeSummary | null> {
  const { db } = deps;
  const [row] = await db
    .select({ domain: domains, program: programs })
    .from(domains)
    .innerJoin(programs, eq(programs.id, domains.programId))
    .where(eq(domains.id, domainId));
  if (!row) return null;
  const { program } = row;
  const check = await checkDomain(
    row.domain.name,
    {
      legacySpfIncludes: program.legacySpfIncludes,
      legacyMxSuffixes: program.legacyMxHostSuffixes,
      successorSpfIncludes: program.successorSpfIncludes,
      successorMxSuffixes: program.successorMxHostSuffixes,
    },
    deps.dns,
    { now: deps.now },
  );
  const now = deps.now();
  return db.transaction(async (tx) => {
    const [domain] = await tx.select().from(domains).where(eq(domains.id, domainId)).for('update');
    if (!domain) return null;
    const [customer] = await tx.select().from(customers).where(eq(customers.id, domain.customerId)).for('update');
    const determined = check.verdict !== 'unknown';
    const previous = domain.latestVerdict;
    const changed = determined && previous !== check.verdict;
    const [inserted] = await tx
      .insert(dnsChecks)
      .values({
        domainId,
        checkedAt: now,
        outcome: determined ? 'determined' : 'error',
        verdict: determined ? check.verdict : null,
        mxState: check.mx.state,
        spfState: check.spf.state,
        result: check,
        durationMs: check.durationMs,
        resolver: deps.dns.description || 'system',
        verdictChanged: changed,
        trigger,
      })
      .returning({ id: dnsChecks.id });
    const checkId = inserted!.id;
    const failures = determined ? 0 : domain.consecutiveFailures + 1;
    const verdict = determined ? check.verdict : (previous ?? 'unknown');
    const unclean = verdict !== 'clean' && verdict !== 'unknown';
    const turnedUnclean = changed && previous === 'clean' && unclean;
    let next = nextCheckAt(now, { verdict, failed: !determined, consecutiveFailures: failures, customerStatus: customer!.status }, program);
    // A completed customer's domain that turned unclean is confirmed shortly before anyone is told.
    if (turnedUnclean && customer!.status === 'completed') next = new Date(now.getTime() + CONFIRM_MS);
    await tx
      .update(domains)
      .set({
        latestVerdict: verdict,
        lastCheckedAt: now,
        ...(determined
          ? {
              lastDeterminedAt: now,
              latestMxState: check.mx.state,
              breaksAtDeletion: check.spf.resultIfLegacyDeleted === 'permerror' && check.spf.legacyReferences.some((r) => r.live),
              dmarcPolicy: check.dmarc.policy,
            }
          : {}),
        consecutiveFailures: failures,
        nextCheckAt: next,
        updatedAt: now,
      })
      .where(eq(domains.id, domainId));

    if (changed) {
      await appendAudit(tx, SYSTEM_DNS, {
        action: 'domain.verdict_changed',
        entityType: 'domain',
        entityId: domainId,
        before: { verdict: previous, customerId: domain.customerId },
        after: { verdict: check.verdict, checkId, customerId: domain.customerId },
      }, now);
    }

    const tasksCreated: string[] = [];
    const openTask = async (kind: 'regression' | 'unable_to_verify', dedupeKey: string, title: string, details: object) => {
      const created = await tx
        .insert(tasks)
        .values({ programId: program.id, customerId: customer!.id, domainId, assigneeId: customer!.salesOwnerId, kind, milestone: kind, dedupeKey, title, details, dueAt: now, createdAt: now, updatedAt: now })
        .onConflictDoNothing({ target: tasks.dedupeKey })
        .returning({ id: tasks.id });
      if (created.length > 0) tasksCreated.push(kind);
    };
    const closeTasks = (kind: 'regression' | 'unable_to_verify', reason: string) =>
      tx
        .update(tasks)
        .set({ status: 'closed', closedAt: now, closeReason: reason, updatedAt: now })
        .where(and(eq(tasks.domainId, domainId), eq(tasks.kind, kind), eq(tasks.status, 'open')));

    // Only what this check can have changed (each skipped statement was a round trip per check):
    // an unable-to-verify task exists only after failures; regression and clean-up tasks close when
    // the domain turns clean, and one that was clean already closed them at that check.
    if (determined && domain.consecutiveFailures > 0) await closeTasks('unable_to_verify', `verified by check ${checkId}`);
    if (verdict === 'clean' && previous !== 'clean') {
      await closeTasks('regression', `clean again (check ${checkId})`);
      await closeCleanupTasksIfClean(tx, customer!.id, now);
    }
    // Regression: confirmed unclean on two determined checks in a row; flapping creates nothing.
    if (customer!.status === 'completed' && determined && unclean && previous !== null && previous !== 'clean' && previous !== 'unknown') {
      const [start] = await tx
        .select({ id: dnsChecks.id })
        .from(dnsChecks)
        .where(and(eq(dnsChecks.domainId, domainId), eq(dnsChecks.verdictChanged, true), lt(dnsChecks.id, checkId)))
        .orderBy(desc(dnsChecks.id))
        .limit(1);
      await openTask('regression', `regression:${domainId}:${start?.id ?? checkId}`, `${domain.displayName} is no longer clean (${check.verdict})`, {
        verdict: check.verdict,
        checkId,
        instructions: check.instructions,
      });
    }
    if (!determined && failures === UNABLE_AFTER_FAILURES) {
      await openTask('unable_to_verify', `unable_to_verify:${domainId}:${domain.lastDeterminedAt?.toISOString() ?? 'never'}`, `${domain.displayName} could not be verified ${failures} times in a row`, {
        checkId,
        errors: check.spf.errors.filter((e) => e.kind === 'dns').map((e) => e.message).concat(check.mx.error ?? []),
      });
    }

    // The customer can move only when this domain's verdict or MX state moved, or the customer
    // itself changed (say, a status set by hand) since this domain was last checked.
    const moved = changed || (determined && domain.latestMxState !== check.mx.state) || !domain.lastCheckedAt || customer!.updatedAt >= domain.lastCheckedAt;
    const customerMovedTo = program.autoProgress && moved ? await autoProgress(tx, customer!.id, now) : null;

    // Keep every check that changed the verdict, and the last KEEP_CHECKS of the rest.
    const recent = tx.select({ id: dnsChecks.id }).from(dnsChecks).where(eq(dnsChecks.domainId, domainId)).orderBy(desc(dnsChecks.checkedAt), desc(dnsChecks.id)).limit(KEEP_CHECKS);
    await tx.delete(dnsChecks).where(and(eq(dnsChecks.domainId, domainId), eq(dnsChecks.verdictChanged, false), notInArray(dnsChecks.id, recent)));

    return { checkId, outcome: determined ? 'determined' : 'error', verdict: check.verdict, verdictChanged: changed, tasksCreated, customerMovedTo } satisfies ProbeSummary;
  });
}

/**
 * Moves a customer forward from DNS evidence, never backwards: contacted/planned/migrating →
 * migrated when every domain's MX is on the successor; migrated → completed when every domain is
 * clean. The status event cites the checks.
 */
async function autoProgress(tx: Db, customerId: string, now: Date): Promise<CustomerStatus | null> {
  const [customer] = await tx.select().from(customers).where(eq(customers.id, customerId));
  if (!customer) return null;
  const latest = await tx.execute(sql`
    SELECT DISTINCT ON (d.id) d.id AS domain_id, d.latest_verdict, c.id AS check_id, c.mx_state
    FROM ${domains} d LEFT JOIN ${dnsChecks} c ON c.domain_id = d.id AND c.outcome = 'determined'
    WHERE d.customer_id = ${customerId}
    ORDER BY d.id, c.checked_at DESC NULLS LAST, c.id DESC`);
  const rows = rowsOf<{ domain_id: string; latest_verdict: string | null; check_id: number | null; mx_state: string | null }>(latest);
  if (rows.length === 0) return null;
  const cite = `checks ${rows.map((r) => r.check_id).join(', ')}`;
  let status = customer.status;
  const move = async (to: CustomerStatus, why: string) => {
    await tx.insert(statusEvents).values({ customerId, fromStatus: status, toStatus: to, actor: SYSTEM_DNS.name, note: `${why} (${cite})`, at: now });
    await tx.update(customers).set({ status: to, statusBeforeHold: null, version: sql`${customers.version} + 1`, updatedAt: now }).where(eq(customers.id, customerId));
    await appendAudit(tx, SYSTEM_DNS, { action: 'customer.transition', entityType: 'customer', entityId: customerId, before: { status }, after: { status: to, note: why } }, now);
    status = to;
  };
  if ((['contacted', 'planned', 'migrating'] as CustomerStatus[]).includes(status) && rows.every((r) => r.mx_state === 'successor')) {
    await move('migrated', 'MX of every domain is on the successor');
  }
  if (status === 'migrated' && rows.every((r) => r.latest_verdict === 'clean')) {
    await move('completed', 'every domain verified clean');
    await closeTasksOfFinalCustomer(tx, customerId, 'completed', now);
  }
  return status === customer.status ? null : status;
}

/**
 * Claims up to `limit` due domains (optionally of one program) by moving their next check out by a
 * lease, so overlapping sweeps never take the same domain; returns them with the claim time.
 */
export async function claimDueDomains(db: Db, now: Date, limit: number, programId?: string, leaseMs = 10 * 60_000) {
  const due = db
    .select({ id: domains.id })
    .from(domains)
    .where(and(sql`${domains.nextCheckAt} <= ${now}`, programId ? eq(domains.programId, programId) : undefined))
    .orderBy(domains.nextCheckAt)
    .limit(limit)
    .for('update', { skipLocked: true });
  return db
    .update(domains)
    .set({ nextCheckAt: new Date(now.getTime() + leaseMs) })
    .where(inArray(domains.id, due))
    .returning({ id: domains.id });
}
