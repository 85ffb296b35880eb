import type { JobPayload } from '../../src/job-contract/catalogue.ts';
import { probeDomain } from '../../src/probes/probe-service.ts';
import type { JobProcessor } from '../context.ts';

/** One DNS probe of one domain, its check and its consequences (see probeDomain). */
export const probeDomainJob: JobProcessor<JobPayload<'probes', 'probe-domain'>> = async ({ domainId, trigger }, { deps }) =>
  (await probeDomain(deps, domainId, trigger)) ?? { skipped: 'domain no longer exists' };
