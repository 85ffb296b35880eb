import type { JobPayload } from '../../src/job-contract/catalogue.ts';
import { createDigests } from '../../src/notifications/notification-service.ts';
import type { JobProcessor } from '../context.ts';

/** Daily: one digest per sales owner with open tasks (delivered by deliver-notifications). */
export const createDigestsJob: JobProcessor<JobPayload<'notifications', 'create-digests'>> = async ({ timeZone }, { deps }) =>
  createDigests(deps.db, deps.now(), timeZone);
