import type { JobPayload } from '../../src/job-contract/catalogue.ts';
import { markProgramDomainsDue } from '../../src/probes/check-repository.ts';
import type { JobProcessor } from '../context.ts';

/**
 * A program's identifiers decide every verdict in it, so when they change every domain is due for a
 * fresh check at once. Idempotent: a domain already due is left alone.
 */
export const markDomainsDue: JobProcessor<JobPayload<'programs', 'mark-domains-due'>> = async ({ programId, reason }, { deps }) => {
  const marked = await markProgramDomainsDue(deps.db, programId, deps.now());
  deps.log.info({ programId, reason, domains: marked }, 'domains marked due for a check');
  return { domainsMarked: marked };
};
