import { and, eq, gt } from 'drizzle-orm';
import { z } from 'zod';
import { domains } from '../../db/schema/index.ts';
import type { Processor } from '../context.ts';

export const MarkDomainsDue = z.object({
  programId: z.uuid(),
  /** Why, for the log: e.g. `legacy identifiers changed`. */
  reason: z.string(),
});

/**
 * A program's identifiers decide every verdict in it, so when they change every domain is due for a
 * fresh check at once. Idempotent: a domain already due is left alone.
 */
export const markDomainsDue: Processor<z.infer<typeof MarkDomainsDue>> = async ({ programId, reason }, { deps }) => {
  const now = deps.now();
  const marked = await deps.db
    .update(domains)
    .set({ nextCheckAt: now })
    .where(and(eq(domains.programId, programId), gt(domains.nextCheckAt, now)))
    .returning({ id: domains.id });
  deps.log.info({ programId, reason, domains: marked.length }, 'domains marked due for a check');
  return { domainsMarked: marked.length };
};
