import { and, eq, isNull, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../../db/client.ts';
import { domains, programs } from '../../db/schema/index.ts';
import type { CustomerStatus } from '../../db/schema/enums.ts';
import { progressFromChecks } from '../customer-status/customer-writer.ts';
import { evaluateDomain, type DomainEvaluation, type Identifiers } from '../dns/evaluate-domain.ts';
import type { DnsLookup } from '../dns/resolver.ts';
import { forEachConcurrently } from '../lib/batches.ts';
import { applyCheckRules } from '../tasks/task-service.ts';
import { notCheckedSince, pruneChecks, recordChecks, type CheckOutcome, type Program, type Trigger } from './check-repository.ts';

/*
 * Probing: evaluate stored domains with the DNS engine and record the checks, with their consequences
 * (tasks opened or closed, customers moved on) in the same transaction. Each consequence is written by
 * the module that owns its table; this module only puts them in order.
 */

/** DNS evaluations of one batch in flight at once. */
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
  verdict: DomainEvaluation['verdict'];
  verdictChanged: boolean;
  tasksCreated: string[];
  customerMovedTo: CustomerStatus | null;
}

/** How a probe is counted in summaries: its verdict, or `unverified` when DNS did not answer well enough. */
export const probeLabel = (s: ProbeSummary) => (s.outcome === 'error' ? 'unverified' : s.verdict);

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

/** Probes one domain (see probeDomains). Null for a domain that no longer exists. */
export async function probeDomain(deps: ProbeDeps, domainId: string, trigger: Trigger): Promise<ProbeSummary | null> {
  return (await probeDomains(deps, [domainId], trigger)).get(domainId) ?? null;
}

/**
 * Probes a batch of domains (concurrently) and records the checks in one transaction, with one
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
  const checks = new Map<string, DomainEvaluation>();
  await forEachConcurrently(targets, DNS_CONCURRENCY_PER_BATCH, async ({ id, name, program }) => {
    checks.set(id, await evaluateDomain(name, identifiersOf(program), deps.dns, { now: deps.now }));
  });
  const programOf = new Map(targets.map((t) => [t.id, t.program]));
  const now = deps.now();
  return db.transaction(async (tx) => {
    const outcomes = await recordChecks(tx, { checks, programOf, now, trigger, resolver: deps.dns.description || 'system', claimedAt });
    if (outcomes.length === 0) return new Map();
    const tasksCreated = await applyCheckRules(tx, outcomes.map(checkedDomain), now);
    const movedTo = await progressFromChecks(
      tx,
      outcomes.map((o) => ({
        customerId: o.customer.id,
        customerStatus: o.customer.status,
        customerUpdatedAt: o.customer.updatedAt,
        autoProgress: o.program.autoProgress,
        domainChanged: o.changed || (o.determined && o.domain.latestMxState !== o.check.mx.state),
        domainLastCheckedAt: o.domain.lastCheckedAt,
      })),
      now,
    );
    await pruneChecks(
      tx,
      outcomes.map((o) => o.domain.id),
    );
    return new Map(
      outcomes.map((o) => [
        o.domain.id,
        {
          checkId: o.checkId,
          outcome: o.determined ? 'determined' : 'error',
          verdict: o.check.verdict,
          verdictChanged: o.changed,
          tasksCreated: tasksCreated.get(o.domain.id) ?? [],
          customerMovedTo: movedTo.get(o.customer.id) ?? null,
        },
      ]),
    );
  });
}

/** A check as the task rules see it. */
const checkedDomain = (o: CheckOutcome) => ({
  programId: o.program.id,
  customerId: o.customer.id,
  customerStatus: o.customer.status,
  assigneeId: o.customer.salesOwnerId,
  domainId: o.domain.id,
  displayName: o.domain.displayName,
  checkId: o.checkId,
  determined: o.determined,
  previousVerdict: o.previous,
  verdict: o.verdict,
  checkVerdict: o.check.verdict,
  unclean: o.unclean,
  failures: o.failures,
  failedBefore: o.domain.consecutiveFailures > 0,
  lastDeterminedAt: o.domain.lastDeterminedAt,
  instructions: o.check.instructions,
  dnsErrors: o.check.spf.errors
    .filter((e) => e.kind === 'dns')
    .map((e) => e.message)
    .concat(o.check.mx.error ?? []),
});
