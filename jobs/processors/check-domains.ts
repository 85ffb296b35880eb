import { z } from 'zod';
import { checkLabel, probeDomains } from '../../src/checks/check-service.ts';
import type { Processor } from '../context.ts';

export const CheckDomains = z.object({
  domainIds: z.array(z.uuid()).min(1).max(500),
  trigger: z.enum(['sweep', 'on_demand', 'cli']),
  /** When a sweep claimed the domains: a re-delivered job skips those checked since (see probeDomains). */
  claimedAt: z.iso.datetime().optional(),
});

/** DNS checks of a batch of domains, their evidence and consequences written in one transaction (see probeDomains). */
export const checkDomainsJob: Processor<z.infer<typeof CheckDomains>> = async ({ domainIds, trigger, claimedAt }, { deps }) => {
  const summaries = await probeDomains(deps, domainIds, trigger, claimedAt ? new Date(claimedAt) : undefined);
  const verdicts: Record<string, number> = {};
  for (const label of [...summaries.values()].map(checkLabel)) verdicts[label] = (verdicts[label] ?? 0) + 1;
  // `skipped`: gone, or already checked since the claim (a re-delivery).
  return { checked: summaries.size, skipped: domainIds.length - summaries.size, verdicts };
};
