import { and, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { customers, domains, programs, salesOwners } from '../../db/schema/index.ts';
import { errors } from '../errors.ts';
import { decodeCursor, encodeCursor } from '../lib/cursor.ts';
import { customerScope, type Viewer } from '../access/access.ts';

export async function requireProgram(db: Db, id: string) {
  const [program] = await db.select().from(programs).where(eq(programs.id, id));
  if (!program) throw errors.programNotFound(id);
  return program;
}

/**
 * By impact: DMARC reject first (those customers lose mail outright when the record goes), and among
 * them first those without a successor DKIM key (nothing else can pass DMARC for them); then
 * quarantine, likewise; then none, then no DMARC. A successor key lowers the impact but does not
 * remove the SPF clean-up, so those domains stay in the list.
 */
const policyRank = sql<number>`CASE
  WHEN ${domains.dmarcPolicy} = 'reject' THEN CASE WHEN ${domains.successorDkim} THEN 1 ELSE 0 END
  WHEN ${domains.dmarcPolicy} = 'quarantine' THEN CASE WHEN ${domains.successorDkim} THEN 3 ELSE 2 END
  WHEN ${domains.dmarcPolicy} = 'none' THEN 4 ELSE 5 END`;
const BlastCursor = z.tuple([z.number().int().min(0).max(99), z.string(), z.uuid()]);

/**
 * The domains that would break if the legacy SPF record were deleted now (SPF would permerror for a
 * client that does not get permerror today), by impact (see policyRank), with who owns them and the
 * record to publish instead.
 */
export async function blastRadius(db: Db, programId: string, viewer: Viewer, limit: number, cursor?: string) {
  await requireProgram(db, programId);
  const after = cursor ? decodeCursor(cursor, BlastCursor) : undefined;
  const where = and(eq(domains.programId, programId), eq(domains.breaksAtDeletion, true), isNull(domains.archivedAt), customerScope(viewer));
  const rows = await db
    .select({
      rank: policyRank,
      domainId: domains.id,
      domain: domains.name,
      displayName: domains.displayName,
      dmarcPolicy: domains.dmarcPolicy,
      successorDkim: domains.successorDkim,
      latestVerdict: domains.latestVerdict,
      lastDeterminedAt: domains.lastDeterminedAt,
      customerId: customers.id,
      customerName: customers.name,
      externalRef: customers.externalRef,
      customerStatus: customers.status,
      salesOwnerId: salesOwners.id,
      salesOwnerName: salesOwners.name,
      department: salesOwners.department,
      suggestedRecord: sql<string | null>`(SELECT c.result -> 'spf' ->> 'suggestedRecord' FROM dns_checks c
        WHERE c.domain_id = ${domains.id} AND c.outcome = 'determined' ORDER BY c.checked_at DESC, c.id DESC LIMIT 1)`,
    })
    .from(domains)
    .innerJoin(customers, eq(customers.id, domains.customerId))
    .innerJoin(salesOwners, eq(salesOwners.id, customers.salesOwnerId))
    .where(and(where, after ? sql`(${policyRank}, ${domains.name}, ${domains.id}) > (${after[0]}, ${after[1]}, ${after[2]}::uuid)` : undefined))
    .orderBy(policyRank, domains.name, domains.id)
    .limit(limit + 1);
  const [{ total }] = (await db
    .select({ total: sql<number>`count(*)::int` })
    .from(domains)
    .innerJoin(customers, eq(customers.id, domains.customerId))
    .where(where)) as [{ total: number }];
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    total,
    items: page.map(({ rank: _rank, lastDeterminedAt, ...r }) => ({ ...r, lastDeterminedAt: lastDeterminedAt?.toISOString() ?? null })),
    nextCursor: rows.length > limit && last ? encodeCursor([last.rank, last.domain, last.domainId]) : null,
  };
}

/** Every page of a paged report, as one stream of items (for CSV). */
export async function* allPages<T>(fetchPage: (cursor?: string) => Promise<{ items: T[]; nextCursor: string | null }>) {
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    yield* page.items;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}
