import type { JobPayload } from '../../src/job-contract/catalogue.ts';
import { escalateTasks } from '../../src/tasks/task-service.ts';
import type { JobProcessor } from '../context.ts';

/** Hourly: one escalation per overdue open task, to the owner's manager (or the program contact); a skipped one is logged. */
export const escalateTasksJob: JobProcessor<JobPayload<'tasks', 'escalate-tasks'>> = async ({ programId }, { deps }) =>
  escalateTasks(deps.db, deps.now(), programId, deps.log);
