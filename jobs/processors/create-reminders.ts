import type { JobPayload } from '../../src/job-contract/catalogue.ts';
import { createReminders } from '../../src/tasks/task-service.ts';
import type { JobProcessor } from '../context.ts';

/**
 * Hourly; each program is judged by its own calendar (time zone), so a program's day's reminders
 * appear within the hour after its local midnight. Idempotent: dedupe keys.
 */
export const createRemindersJob: JobProcessor<JobPayload<'tasks', 'create-reminders'>> = async ({ programId }, { deps }) =>
  createReminders(deps.db, deps.now(), programId);
