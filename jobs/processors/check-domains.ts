import { z } from 'zod';
import { checkLabel, probeDomains } from '../../src/checks/check-service.ts';
import type { Processor } from '../context.ts';

export const CheckDomains = z.object({
  domainIds: z.array(z.uuid()).min(1).max(500),
  trigger: z.enum(['sweep', 'on_demand', 'cli']),
});

/** DNS checks of a batch of domains, their evidence and consequences written in one transaction (see probeDomains). */
export const checkDomainsJob: Processor<z.infer<typeof CheckDomains>> = async ({ domainIds, trigger }, { deps }) => {
  const summaries = await probeDomains(deps, domainIds, trigger);
  const verdicts: Record<string, number> = {};
  for (const label of [...summaries.values()].map(checkLabel)) verdicts[label] = (verdicts[label] ?? 0) + 1;
  return { checked: summaries.size, gone: domainIds.length - summaries.size, verdicts };
};
