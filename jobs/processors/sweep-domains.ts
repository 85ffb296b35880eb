import { z } from 'zod';
import { chunk, forEachConcurrently } from '../../src/batches.ts';
import { claimDueDomains } from '../../src/checks/check-service.ts';
import type { Processor } from '../context.ts';

export const SweepDomains = z.object({
  /** Most domains claimed by one pass; the next pass (a minute later) takes the rest. */
  limit: z.number().int().min(1).max(100_000).default(5000),
  programId: z.uuid().optional(),
  /** Domains per check job: each job checks its batch concurrently and writes it in one transaction. */
  batchSize: z.number().int().min(1).max(500).default(50),
});

/**
 * Every minute: claims the domains whose next check is due and enqueues them in batches, each job id
 * made of its first domain and the claim time: claims never overlap, so no domain is probed twice.
 */
export const sweepDomains: Processor<z.infer<typeof SweepDomains>> = async ({ limit, programId, batchSize }, { deps }) => {
  const now = deps.now();
  const claimed = await claimDueDomains(deps.db, now, limit, programId);
  const batches = chunk(
    claimed.map((d) => d.id),
    batchSize,
  );
  await forEachConcurrently(batches, 50, (ids) =>
    deps.enqueue('checks', 'check-domains', { domainIds: ids, trigger: 'sweep', claimedAt: now.toISOString() }, `checks-${ids[0]}-${now.getTime()}`),
  );
  deps.log.info({ claimed: claimed.length, jobs: batches.length }, 'dns sweep enqueued due domains');
  return { enqueued: claimed.length, jobs: batches.length };
};
