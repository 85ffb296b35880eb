import { chunk, forEachConcurrently } from '../../src/lib/batches.ts';
import type { JobPayload } from '../../src/job-contract/catalogue.ts';
import { claimDueDomains } from '../../src/probes/check-repository.ts';
import type { JobProcessor } from '../context.ts';

/**
 * Every minute: claims the domains whose next check is due and enqueues them in batches, each job id
 * made of its first domain and the claim time: claims never overlap, so no domain is probed twice.
 */
export const sweepDomains: JobProcessor<JobPayload<'probes', 'sweep-domains'>> = async ({ limit, programId, batchSize, trigger }, { deps }) => {
  const now = deps.now();
  const claimed = await claimDueDomains(deps.db, now, limit, programId);
  const batches = chunk(
    claimed.map((d) => d.id),
    batchSize,
  );
  await forEachConcurrently(batches, 50, (ids) =>
    deps.enqueue('probes', 'probe-domains', { domainIds: ids, trigger, claimedAt: now.toISOString() }, `probes-${ids[0]}-${now.getTime()}`),
  );
  deps.log.info({ claimed: claimed.length, jobs: batches.length }, 'dns sweep enqueued due domains');
  return { enqueued: claimed.length, jobs: batches.length };
};
