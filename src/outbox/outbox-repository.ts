import { and, asc, eq, inArray, isNotNull, isNull, lt, lte, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { outbox } from '../../db/schema/index.ts';
import { assertJobId, payloadSchemaOf, type JobInput, type JobName, type QueueName } from '../job-contract/catalogue.ts';

export type OutboxRow = typeof outbox.$inferSelect;

/** Writes a job into the outbox; call it in the transaction of the change that causes the job. */
export async function enqueueInOutbox<Q extends QueueName, N extends JobName<Q>>(db: Db, queue: Q, name: N, payload: JobInput<Q, N>, jobId: string, now: Date) {
  assertJobId(jobId);
  // Validate now, in the request, rather than discover a bad payload in a worker later.
  payloadSchemaOf(queue, name)!.parse(payload);
  // The relay compares available_at with the injected clock, so both come from it.
  await db.insert(outbox).values({ queue, jobName: name, jobId, payload, createdAt: now, availableAt: now });
}

/**
 * Claims up to `limit` deliverable rows by pushing their `available_at` out by `leaseMs`: another
 * relay skips them meanwhile, and if this process dies they become deliverable again after the lease.
 */
export async function claimOutboxRows(db: Db, now: Date, limit: number, leaseMs: number): Promise<OutboxRow[]> {
  return db.transaction(async (tx) => {
    const ids = tx
      .select({ id: outbox.id })
      .from(outbox)
      .where(and(isNull(outbox.dispatchedAt), lte(outbox.availableAt, now)))
      .orderBy(asc(outbox.availableAt), asc(outbox.id))
      .limit(limit)
      .for('no key update', { skipLocked: true });
    return tx
      .update(outbox)
      .set({ availableAt: new Date(now.getTime() + leaseMs), attempts: sql`${outbox.attempts} + 1` })
      .where(inArray(outbox.id, ids))
      .returning();
  });
}

export async function markOutboxDispatched(db: Db, id: number, at: Date) {
  await db.update(outbox).set({ dispatchedAt: at, lastError: null }).where(eq(outbox.id, id));
}

export async function markOutboxFailed(db: Db, id: number, error: string, retryAt: Date) {
  await db
    .update(outbox)
    .set({ lastError: error.slice(0, 2000), availableAt: retryAt })
    .where(eq(outbox.id, id));
}

export const countPendingOutbox = (db: Db) => db.$count(outbox, isNull(outbox.dispatchedAt));

/** Removes delivered rows older than `cutoff`; returns how many. Undelivered rows are never removed. */
export async function pruneDispatchedOutbox(db: Db, cutoff: Date): Promise<number> {
  const removed = await db
    .delete(outbox)
    .where(and(isNotNull(outbox.dispatchedAt), lt(outbox.dispatchedAt, cutoff)))
    .returning({ id: outbox.id });
  return removed.length;
}
