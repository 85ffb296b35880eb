import { z } from 'zod';
import { createReminders } from '../../src/tasks/task-service.ts';
import type { Processor } from '../context.ts';

export const CreateReminders = z.object({ programId: z.uuid().optional() });

/**
 * Hourly; each program is judged by its own calendar (time zone), so a program's day's reminders
 * appear within the hour after its local midnight. Idempotent: dedupe keys.
 */
export const createRemindersJob: Processor<z.infer<typeof CreateReminders>> = async ({ programId }, { deps }) =>
  createReminders(deps.db, deps.now(), programId);
