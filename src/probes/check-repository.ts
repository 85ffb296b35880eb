import { and, eq, gt, inArray, isNull, sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../../db/client.ts';
import { customers, dnsChecks, domains, type programs } from '../../db/schema/index.ts';
import { appendAudits } from '../audit/audit-repository.ts';
import { SYSTEM_DNS } from '../customer-status/customer-writer.ts';
import type { DomainEvaluation } from '../dns/evaluate-domain.ts';
import { CONFIRM_MS, nextCheckAt } from './check-cadence.ts';

/*
 * The one module that writes `dns_checks`, and the domains' check state (latest verdict, failures,
 * next check): recording a batch of probes, pruning old checks, claiming due domains.
 */

/** dns_checks kept per domain besides those that changed the verdict. */
export const KEEP_CHECKS = 30;

export type Trigger = 'sweep' | 'on_demand' | 'cli';
export type Program = typeof programs.$inferSelect;

export interface Recording {
  checks: Map<string, DomainEvaluation>;
  programOf: Map<string, Program>;
  now: Date;
  trigger: Trigger;
  resolver: string;
  claimedAt?: Date | undefined;
}

/** What one check did to its domain, decided before anything was written. */
export interface CheckOutcome {
  /** The domain and its customer as they were before this check (locked). */
  domain: typeof domains.$inferSelect;
  customer: typeof customers.$inferSelect;
  program: Program;
  check: DomainEvaluation;
  /** DNS answered well enough to judge (otherwise the verdict stays and the failure counter grows). */
  determined: boolean;
  previous: string | null;
  changed: boolean;
  failures: number;
  /** The verdict the domain has now: this check's, or the previous one if this check could not judge. */
  verdict: string;
  unclean: boolean;
  next: Date;
  checkId: number;
}

/**
 * A sweep's batch carries the time its domains were claimed: one re-delivered (after a Redis cut, or
 * a worker that stalled after writing) skips the domains already checked since, so a claim records
 * one check per domain however often its job runs.
 */
export const notCheckedSince = (claimedAt: Date) => sql`(${domains.lastCheckedAt} IS NULL OR ${domains.lastCheckedAt} < ${claimedAt})`;

/**
 * Records the checks of a batch: one dns_checks row each, the domains' new state, and an audit entry
 * per verdict that changed, with one statement per kind of write. Locks the domains, then their
 * customers, each in id order: batches hold disjoint domains, so they wait for each other's customers
 * in the same order and never deadlock. Two deliveries of one batch running at once meet here: the
 * second finds the domains checked since the claim and records nothing. Call it in a transaction.
 */
export async function recordChecks(tx: Db, { checks, programOf, now, trigger, resolver, claimedAt }: Recording): Promise<CheckOutcome[]> {
  const domainRows = await tx
    .select()
    .from(domains)
    .where(
      and(sql`${domains.id} = ANY(${sql.param([...checks.keys()])}::uuid[])`, isNull(domains.archivedAt), claimedAt ? notCheckedSince(claimedAt) : undefined),
    )
    .orderBy(domains.id)
    .for('no key update');
  if (domainRows.length === 0) return [];
  const customerIds = sql.param([...new Set(domainRows.map((d) => d.customerId))]);
  const customerRows = await tx
    .select()
    .from(customers)
    .where(sql`${customers.id} = ANY(${customerIds}::uuid[])`)
    .orderBy(customers.id)
    .for('no key update');
  const customerOf = new Map(customerRows.map((c) => [c.id, c]));

  const outcomes: CheckOutcome[] = domainRows.map((domain) => {
    const check = checks.get(domain.id)!;
    const customer = customerOf.get(domain.customerId)!;
    const program = programOf.get(domain.id)!;
    const determined = check.verdict !== 'unknown';
    const previous = domain.latestVerdict;
    const changed = determined && previous !== check.verdict;
    const failures = determined ? 0 : domain.consecutiveFailures + 1;
    const verdict = determined ? check.verdict : (previous ?? 'unknown');
    const unclean = verdict !== 'clean' && verdict !== 'unknown';
    let next = nextCheckAt(now, { verdict, failed: !determined, consecutiveFailures: failures, customerStatus: customer.status }, program);
    // A completed customer's domain that turned unclean is confirmed shortly before anyone is told.
    if (changed && previous === 'clean' && unclean && customer.status === 'completed') next = new Date(now.getTime() + CONFIRM_MS);
    return { domain, customer, program, check, determined, previous, changed, failures, verdict, unclean, next, checkId: 0 };
  });

  const inserted = rowsOf<{ id: string | number; domain_id: string }>(
    await tx.execute(sql`
      INSERT INTO dns_checks (domain_id, checked_at, outcome, verdict, mx_state, spf_state, result, duration_ms, resolver, verdict_changed, trigger)
      SELECT r.domain_id, ${now}, r.outcome, r.verdict, r.mx_state, r.spf_state, r.result, r.duration_ms, ${resolver}, r.verdict_changed, ${trigger}
      FROM jsonb_to_recordset(${JSON.stringify(
        outcomes.map((o) => ({
          domain_id: o.domain.id,
          outcome: o.determined ? 'determined' : 'error',
          verdict: o.determined ? o.check.verdict : null,
          mx_state: o.check.mx.state,
          spf_state: o.check.spf.state,
          result: o.check,
          duration_ms: o.check.durationMs,
          verdict_changed: o.changed,
        })),
      )}::jsonb) AS r(domain_id uuid, outcome text, verdict text, mx_state text, spf_state text, result jsonb, duration_ms int, verdict_changed boolean)
      RETURNING id, domain_id`),
  );
  const checkIdOf = new Map(inserted.map((r) => [r.domain_id, Number(r.id)]));
  for (const o of outcomes) o.checkId = checkIdOf.get(o.domain.id)!;

  await tx.execute(sql`
    UPDATE domains d SET
      latest_verdict = u.verdict, last_checked_at = ${now}, consecutive_failures = u.failures, next_check_at = u.next, updated_at = ${now},
      last_determined_at = CASE WHEN u.determined THEN ${now} ELSE d.last_determined_at END,
      latest_mx_state = CASE WHEN u.determined THEN u.mx_state ELSE d.latest_mx_state END,
      breaks_at_deletion = CASE WHEN u.determined THEN u.breaks ELSE d.breaks_at_deletion END,
      dmarc_policy = CASE WHEN u.determined THEN u.dmarc ELSE d.dmarc_policy END,
      successor_dkim = CASE WHEN u.determined AND NOT u.dkim_failed THEN u.successor_dkim ELSE d.successor_dkim END,
      -- A check that finds the domain again ends a manager's "domain_not_found is expected".
      not_found_dismissed_at = CASE WHEN u.found THEN NULL ELSE d.not_found_dismissed_at END,
      not_found_dismissed_by = CASE WHEN u.found THEN NULL ELSE d.not_found_dismissed_by END,
      not_found_dismissal_reason = CASE WHEN u.found THEN NULL ELSE d.not_found_dismissal_reason END
    FROM jsonb_to_recordset(${JSON.stringify(
      outcomes.map((o) => ({
        id: o.domain.id,
        verdict: o.verdict,
        failures: o.failures,
        next: o.next,
        determined: o.determined,
        found: o.determined && o.verdict !== 'domain_not_found',
        mx_state: o.check.mx.state,
        breaks: o.check.spf.breaksAtDeletion,
        dmarc: o.check.dmarc.policy,
        ...successorDkimOf(o.check),
      })),
    )}::jsonb) AS u(id uuid, verdict text, failures int, next timestamptz, determined boolean, found boolean, mx_state text, breaks boolean, dmarc text,
                    successor_dkim boolean, dkim_failed boolean)
    WHERE d.id = u.id`);

  await appendAudits(
    tx,
    SYSTEM_DNS,
    outcomes
      .filter((o) => o.changed)
      .map((o) => ({
        action: 'domain.verdict_changed',
        entityType: 'domain',
        entityId: o.domain.id,
        // A dismissed domain_not_found that turned into another verdict loses its dismissal: say which.
        before: {
          verdict: o.previous,
          customerId: o.domain.customerId,
          ...(o.domain.notFoundDismissedAt ? { notFoundDismissal: dismissalOf(o.domain) } : {}),
        },
        after: { verdict: o.check.verdict, checkId: o.checkId, customerId: o.domain.customerId },
      })),
    now,
  );
  return outcomes;
}

/**
 * Whether a successor DKIM key is published, for the blast radius: null when the program names no
 * successor selector; a lookup that failed without finding a key keeps what the domain had.
 */
function successorDkimOf({ dkim }: DomainEvaluation): { successor_dkim: boolean | null; dkim_failed: boolean } {
  const successor = dkim.selectors.filter((s) => s.side === 'successor');
  if (dkim.successorKeyPublished) return { successor_dkim: true, dkim_failed: false };
  if (successor.length === 0) return { successor_dkim: null, dkim_failed: false };
  return { successor_dkim: false, dkim_failed: successor.some((s) => s.error !== undefined) };
}

const dismissalOf = (d: typeof domains.$inferSelect) => ({
  at: d.notFoundDismissedAt?.toISOString(),
  by: d.notFoundDismissedBy,
  reason: d.notFoundDismissalReason,
});

/**
 * Keeps every check that changed the verdict, and the last KEEP_CHECKS of the rest, of each domain.
 * The batch's reads by a non-unique key (here the checks of these domains; the domains of these
 * customers in progressCustomers) join the ids with LATERAL: one index lookup per id. `key = ANY(ids)`
 * reads the same rows, but PostgreSQL plans it from the table's statistics, and until autovacuum has
 * analyzed a freshly imported table it estimates a quarter of the table and scans all of it (the
 * first sweep after an import of 100k customers spent 100 ms a batch on that).
 */
export async function pruneChecks(tx: Db, domainIds: string[]) {
  await tx.execute(sql`
    DELETE FROM ${dnsChecks} WHERE id IN (
      SELECT c.id FROM unnest(${sql.param(domainIds)}::uuid[]) AS d(id) CROSS JOIN LATERAL (
        SELECT id, verdict_changed FROM ${dnsChecks} WHERE domain_id = d.id ORDER BY checked_at DESC, id DESC OFFSET ${KEEP_CHECKS}) c
      WHERE NOT c.verdict_changed)`);
}

/**
 * Claims up to `limit` due domains (optionally of one program) by moving their next check out by a
 * lease, so overlapping sweeps never take the same domain; returns them with the claim time.
 */
export async function claimDueDomains(db: Db, now: Date, limit: number, programId?: string, leaseMs = 10 * 60_000) {
  const due = db
    .select({ id: domains.id })
    .from(domains)
    .where(and(sql`${domains.nextCheckAt} <= ${now}`, isNull(domains.archivedAt), programId ? eq(domains.programId, programId) : undefined))
    .orderBy(domains.nextCheckAt)
    .limit(limit)
    .for('no key update', { skipLocked: true });
  return db
    .update(domains)
    .set({ nextCheckAt: new Date(now.getTime() + leaseMs) })
    .where(inArray(domains.id, due))
    .returning({ id: domains.id });
}

/** Every live domain of a program is due for a check now (its identifiers changed); one already due is left alone. How many. */
export async function markProgramDomainsDue(db: Db, programId: string, now: Date): Promise<number> {
  const marked = await db
    .update(domains)
    .set({ nextCheckAt: now })
    .where(and(eq(domains.programId, programId), gt(domains.nextCheckAt, now)))
    .returning({ id: domains.id });
  return marked.length;
}
