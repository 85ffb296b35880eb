import { z } from 'zod';
import { probeDomain } from '../../src/checks/check-service.ts';
import type { Processor } from '../context.ts';

export const CheckDomain = z.object({
  domainId: z.uuid(),
  trigger: z.enum(['sweep', 'on_demand', 'cli']),
});

/** One DNS check of one domain, its evidence and its consequences (see probeDomain). */
export const checkDomainJob: Processor<z.infer<typeof CheckDomain>> = async ({ domainId, trigger }, { deps }) =>
  (await probeDomain(deps, domainId, trigger)) ?? { skipped: 'domain no longer exists' };
