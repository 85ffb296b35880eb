import type { JobPayload } from '../../src/job-contract/catalogue.ts';
import { probeLabel, probeDomains } from '../../src/probes/probe-service.ts';
import type { JobProcessor } from '../context.ts';

/** DNS probes of a batch of domains, their checks and consequences written in one transaction (see probeDomains). */
export const probeDomainsJob: JobProcessor<JobPayload<'probes', 'probe-domains'>> = async ({ domainIds, trigger, claimedAt }, { deps }) => {
  const summaries = await probeDomains(deps, domainIds, trigger, claimedAt ? new Date(claimedAt) : undefined);
  const verdicts: Record<string, number> = {};
  for (const label of [...summaries.values()].map(probeLabel)) verdicts[label] = (verdicts[label] ?? 0) + 1;
  // `skipped`: gone, or already checked since the claim (a re-delivery).
  return { checked: summaries.size, skipped: domainIds.length - summaries.size, verdicts };
};
