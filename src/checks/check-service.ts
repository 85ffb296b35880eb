import { and, desc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { rowsOf, type Db } from '../../db/client.ts';
import { customers, dnsChecks, domains, programs } from '../../db/schema/index.ts';
import type { CustomerStatus } from '../../db/schema/enums.ts';
import { appendAudits } from '../audit/audit-repository.ts';
import { checkDomain, type DomainCheck, type Identifiers } from '../dns/check-domain.ts';
import type { DnsLookup } from '../dns/resolver.ts';
import { closeCleanupTasksIfClean, closeDomainTasks, openDomainTask } from '../tasks/task-service.ts';
import { BEFORE_MIGRATED, progressFromDns, SYSTEM_DNS } from '../customers/customer-writer.ts';
import { forEachConcurrently } from '../batches.ts';
import { CONFIRM_MS, nextCheckAt } from './check-cadence.ts';

/** dns_checks kept per domain besides those that changed the verdict. */
export const KEEP_CHECKS = 30;
const UNABLE_AFTER_FAILURES = 3;
/** DNS checks of one batch in flight at once. */
const DNS_CONCURRENCY_PER_BATCH = 16;

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

/** How a check is counted in summaries: its verdict, or `unverified` when DNS did not answer well enough. */
export const checkLabel = (s: ProbeSummary) => (s.outcome === 'error' ? 'unverified' : s.verdict);

type Trigger = 'sweep' | 'on_demand' | 'cli';
type Program = typeof programs.$inferSelect;

/** Checks one domain and records the evidence (see probeDomains). Null for a domain that no longer exists. */
export async function probeDomain(deps: ProbeDeps, domainId: string, trigger: Trigger): Promise<ProbeSummary | null> {
  return (await probeDomains(deps, [domainId], trigger)).get(domainId) ?? null;
}

/**
 * Checks a batch of domains (concurrently) and records the evidence in one transaction, with one
 * statement per kind of write for the whole batch. A DNS failure never overwrites a determined
 * verdict: the attempt is stored, the verdict stays, the failure counter grows. Domains that no
 * longer exist are left out of the result.
 */
export async function probeDomains(deps: ProbeDeps, domainIds: string[], trigger: Trigger, claimedAt?: Date): Promise<Map<string, ProbeSummary>> {
  const { db } = deps;
  const targets = await db
    .select({ id: domains.id, name: domains.name, program: programs })
    .from(domains)
    .innerJoin(programs, eq(programs.id, domains.programId))
    .where(
      and(
        sql`${domains.id} = ANY(${sql.param([...new Set(domainIds)])}::uuid[])`,
        isNull(domains.archivedAt),
        claimedAt ? notCheckedSince(claimedAt) : undefined,
      ),
    );
  if (targets.length === 0) return new Map();
  const checks = new Map<string, DomainCheck>();
  await forEachConcurrently(targets, DNS_CONCURRENCY_PER_BATCH, async ({ id, name, program }) => {
    checks.set(id, await checkDomain(name, identifiersOf(program), deps.dns, { now: deps.now }));
  });
  const programOf = new Map(targets.map((t) => [t.id, t.program]));
  const now = deps.now();
  return db.transaction((tx) => recordChecks(tx, { checks, programOf, now, trigger, resolver: deps.dns.description || 'system', claimedAt }));
}

/**
 * A sweep's batch carries the time its domains were claimed: one re-delivered (after a Redis cut, or
 * a worker that stalled after writing) skips the domains already checked since, so a claim records
 * one check per domain however often its job runs.
 */
const notCheckedSince = (claimedAt: Date) => sql`(${domains.lastCheckedAt} IS NULL OR ${domains.lastCheckedAt} < ${claimedAt})`;

/** What the engine judges a program's domains against. */
export const identifiersOf = (program: Program): Identifiers => ({
  legacySpfIncludes: program.legacySpfIncludes,
  legacyMxSuffixes: program.legacyMxHostSuffixes,
  legacyDkimSelectors: program.legacyDkimSelectors,
  legacyDkimTargets: program.legacyDkimTargets,
  successorSpfIncludes: program.successorSpfIncludes,
  successorMxSuffixes: program.successorMxHostSuffixes,
  successorDkimSelectors: program.successorDkimSelectors,
  successorDkimTargets: program.successorDkimTargets,
});

interface Recording {
  checks: Map<string, DomainCheck>;
  programOf: Map<string, Program>;
  now: Date;
  trigger: Trigger;
  resolver: string;
  claimedAt?: Date | undefined;
}

/** What one check does to its domain, decided before anything is written. */
interface Outcome {
  domain: typeof domains.$inferSelect;
  customer: typeof customers.$inferSelect;
  program: Program;
  check: DomainCheck;
  determined: boolean;
  previous: string | null;
  changed: boolean;
  failures: number;
  verdict: string;
  unclean: boolean;
  next: Date;
  checkId: number;
  tasksCreated: string[];
}

async function recordChecks(tx: Db, { checks, programOf, now, trigger, resolver, claimedAt }: Recording): Promise<Map<string, ProbeSummary>> {
  // Domains, then their customers, each in id order: batches hold disjoint domains, so they wait for
  // each other's customers in the same order and never deadlock. Two deliveries of one batch running
  // at once meet here: the second finds the domains checked since the claim and records nothing.
  const domainRows = await tx
    .select()
    .from(domains)
    .where(
      and(sql`${domains.id} = ANY(${sql.param([...checks.keys()])}::uuid[])`, isNull(domains.archivedAt), claimedAt ? notCheckedSince(claimedAt) : undefined),
    )
    .orderBy(domains.id)
    .for('no key update');
  if (domainRows.length === 0) return new Map();
  const ids = sql.param(domainRows.map((d) => d.id));
  const customerIds = sql.param([...new Set(domainRows.map((d) => d.customerId))]);
  const customerRows = await tx
    .select()
    .from(customers)
    .where(sql`${customers.id} = ANY(${customerIds}::uuid[])`)
    .orderBy(customers.id)
    .for('no key update');
  const customerOf = new Map(customerRows.map((c) => [c.id, c]));

  const outcomes: Outcome[] = domainRows.map((domain) => {
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
    return { domain, customer, program, check, determined, previous, changed, failures, verdict, unclean, next, checkId: 0, tasksCreated: [] };
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

  const changedOnes = outcomes.filter((o) => o.changed);
  await appendAudits(
    tx,
    SYSTEM_DNS,
    changedOnes.map((o) => ({
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

  // Only what a check can have changed: an unable-to-verify task exists only after failures;
  // regression and clean-up tasks close when the domain turns clean (one that was clean already
  // closed them at that check).
  await closeDomainTasks(
    tx,
    'unable_to_verify',
    outcomes.filter((o) => o.determined && o.domain.consecutiveFailures > 0).map((o) => ({ domainId: o.domain.id, reason: `verified by check ${o.checkId}` })),
    now,
  );
  const turnedClean = outcomes.filter((o) => o.verdict === 'clean' && o.previous !== 'clean');
  await closeDomainTasks(
    tx,
    'regression',
    turnedClean.map((o) => ({ domainId: o.domain.id, reason: `clean again (check ${o.checkId})` })),
    now,
  );
  await closeCleanupTasksIfClean(tx, [...new Set(turnedClean.map((o) => o.customer.id))], now);

  for (const o of outcomes) await openTasks(tx, o, now);

  const movedTo = await progressCustomers(tx, outcomes, now);
  await pruneChecks(tx, ids);

  return new Map(
    outcomes.map((o) => [
      o.domain.id,
      {
        checkId: o.checkId,
        outcome: o.determined ? 'determined' : 'error',
        verdict: o.check.verdict,
        verdictChanged: o.changed,
        tasksCreated: o.tasksCreated,
        customerMovedTo: movedTo.get(o.customer.id) ?? null,
      },
    ]),
  );
}

/**
 * Whether a successor DKIM key is published, for the blast radius: null when the program names no
 * successor selector; a lookup that failed without finding a key keeps what the domain had.
 */
function successorDkimOf({ dkim }: DomainCheck): { successor_dkim: boolean | null; dkim_failed: boolean } {
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

/** The rare tasks a check opens: a confirmed regression of a completed customer, or too many failures in a row. */
async function openTasks(tx: Db, o: Outcome, now: Date) {
  const { domain, customer, check } = o;
  const open = async (kind: 'regression' | 'unable_to_verify', dedupeKey: string, title: string, details: object) => {
    const task = {
      programId: o.program.id,
      customerId: customer.id,
      domainId: domain.id,
      assigneeId: customer.salesOwnerId,
      kind,
      milestone: kind,
      dedupeKey,
      title,
      details,
      dueAt: now,
    };
    if (await openDomainTask(tx, task, now)) o.tasksCreated.push(kind);
  };
  // Regression: confirmed unclean on two determined checks in a row; flapping creates nothing.
  if (customer.status === 'completed' && o.determined && o.unclean && o.previous !== null && o.previous !== 'clean' && o.previous !== 'unknown') {
    const [start] = await tx
      .select({ id: dnsChecks.id })
      .from(dnsChecks)
      .where(and(eq(dnsChecks.domainId, domain.id), eq(dnsChecks.verdictChanged, true), lt(dnsChecks.id, o.checkId)))
      .orderBy(desc(dnsChecks.id))
      .limit(1);
    await open('regression', `regression:${domain.id}:${start?.id ?? o.checkId}`, `${domain.displayName} is no longer clean (${check.verdict})`, {
      verdict: check.verdict,
      checkId: o.checkId,
      instructions: check.instructions,
    });
  }
  if (!o.determined && o.failures === UNABLE_AFTER_FAILURES) {
    await open(
      'unable_to_verify',
      `unable_to_verify:${domain.id}:${domain.lastDeterminedAt?.toISOString() ?? 'never'}`,
      `${domain.displayName} could not be verified ${o.failures} times in a row`,
      {
        checkId: o.checkId,
        errors: check.spf.errors
          .filter((e) => e.kind === 'dns')
          .map((e) => e.message)
          .concat(check.mx.error ?? []),
      },
    );
  }
}

/**
 * Auto-progress for the customers of a batch. A customer can move only when one of its domains'
 * verdict or MX state moved, or the customer itself changed (say, a status set by hand) since that
 * domain was last checked; and only if every domain's MX is on the successor, or it is migrated with
 * every domain clean (one query for the batch). Those few move one by one.
 */
async function progressCustomers(tx: Db, outcomes: Outcome[], now: Date): Promise<Map<string, CustomerStatus>> {
  const candidates = new Set(
    outcomes
      .filter(({ domain, customer, program, changed, determined, check }) => {
        const moved = changed || (determined && domain.latestMxState !== check.mx.state) || !domain.lastCheckedAt || customer.updatedAt >= domain.lastCheckedAt;
        return program.autoProgress && moved && (BEFORE_MIGRATED.includes(customer.status) || customer.status === 'migrated');
      })
      .map((o) => o.customer.id),
  );
  const movedTo = new Map<string, CustomerStatus>();
  if (candidates.size === 0) return movedTo;
  // One index lookup per customer, joined with LATERAL (see pruneChecks). The statuses are at hand, locked.
  const facts = rowsOf<{ customer_id: string; on_successor: boolean | null; clean: boolean | null }>(
    await tx.execute(sql`
      SELECT c.id AS customer_id, d.on_successor, d.clean
      FROM unnest(${sql.param([...candidates])}::uuid[]) AS c(id) CROSS JOIN LATERAL (
        SELECT bool_and(latest_mx_state IS NOT DISTINCT FROM 'successor') AS on_successor, bool_and(latest_verdict IS NOT DISTINCT FROM 'clean') AS clean
        FROM ${domains} WHERE customer_id = c.id AND archived_at IS NULL) d`),
  );
  const statusOf = new Map(outcomes.map((o) => [o.customer.id, o.customer.status]));
  for (const { customer_id, on_successor, clean } of facts) {
    if (!on_successor && !(statusOf.get(customer_id) === 'migrated' && clean)) continue;
    const to = await progressFromDns(tx, customer_id, now);
    if (to) movedTo.set(customer_id, to);
  }
  return movedTo;
}

/**
 * Keeps every check that changed the verdict, and the last KEEP_CHECKS of the rest, of each domain.
 * The batch's reads by a non-unique key (here the checks of these domains; the domains of these
 * customers in progressCustomers) join the ids with LATERAL: one index lookup per id. `key = ANY(ids)`
 * reads the same rows, but PostgreSQL plans it from the table's statistics, and until autovacuum has
 * analyzed a freshly imported table it estimates a quarter of the table and scans all of it (the
 * first sweep after an import of 100k customers spent 100 ms a batch on that).
 */
async function pruneChecks(tx: Db, domainIds: ReturnType<typeof sql.param>) {
  await tx.execute(sql`
    DELETE FROM ${dnsChecks} WHERE id IN (
      SELECT c.id FROM unnest(${domainIds}::uuid[]) AS d(id) CROSS JOIN LATERAL (
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
