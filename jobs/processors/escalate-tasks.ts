import { z } from 'zod';
import { escalateTasks } from '../../src/tasks/task-service.ts';
import type { Processor } from '../context.ts';

export const EscalateTasks = z.object({ programId: z.uuid().optional() });

/** Hourly: one escalation per overdue open task, to the owner's manager (or the program contact). */
export const escalateTasksJob: Processor<z.infer<typeof EscalateTasks>> = async ({ programId }, { deps }) => escalateTasks(deps.db, deps.now(), programId);
