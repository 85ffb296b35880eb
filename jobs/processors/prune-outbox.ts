import { and, isNotNull, lt } from 'drizzle-orm';
import { z } from 'zod';
import { outbox } from '../../db/schema/index.ts';
import type { Processor } from '../context.ts';

export const PruneOutbox = z.object({ olderThanDays: z.number().int().min(1) });

/** Delivered outbox rows are only kept a while, for tracing; undelivered ones are never pruned. */
export const pruneOutbox: Processor<z.infer<typeof PruneOutbox>> = async ({ olderThanDays }, { deps }) => {
  const cutoff = new Date(deps.now().getTime() - olderThanDays * 86_400_000);
  const removed = await deps.db
    .delete(outbox)
    .where(and(isNotNull(outbox.dispatchedAt), lt(outbox.dispatchedAt, cutoff)))
    .returning({ id: outbox.id });
  return { removed: removed.length };
};
