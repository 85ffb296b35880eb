import type { JobPayload } from '../../src/job-contract/catalogue.ts';
import { pruneDispatchedOutbox } from '../../src/outbox/outbox-repository.ts';
import type { JobProcessor } from '../context.ts';

/** Delivered outbox rows are only kept a while, for tracing; undelivered ones are never pruned. */
export const pruneOutbox: JobProcessor<JobPayload<'housekeeping', 'prune-outbox'>> = async ({ olderThanDays }, { deps }) => ({
  removed: await pruneDispatchedOutbox(deps.db, new Date(deps.now().getTime() - olderThanDays * 86_400_000)),
});
