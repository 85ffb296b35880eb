import { z } from 'zod';
import { claimDueDomains } from '../../src/checks/check-service.ts';
import type { Processor } from '../context.ts';

export const SweepDomains = z.object({
  /** Most domains claimed by one pass; the next pass (a minute later) takes the rest. */
  limit: z.number().int().min(1).max(100_000).default(5000),
  programId: z.uuid().optional(),
});

/**
 * Every minute: claims the domains whose next check is due and enqueues one check each, with a job id
 * made of the domain and the claim time, so overlapping sweeps never probe a domain twice.
 */
export const sweepDomains: Processor<z.infer<typeof SweepDomains>> = async ({ limit, programId }, { deps }) => {
  const now = deps.now();
  const claimed = await claimDueDomains(deps.db, now, limit, programId);
  for (let i = 0; i < claimed.length; i += 200) {
    await Promise.all(
      claimed.slice(i, i + 200).map((d) => deps.enqueue('checks', 'check-domain', { domainId: d.id, trigger: 'sweep' }, `check-${d.id}-${now.getTime()}`)),
    );
  }
  deps.log.info({ claimed: claimed.length }, 'dns sweep enqueued due domains');
  return { enqueued: claimed.length };
};
