import { z } from 'zod';
import { createDigests } from '../../src/notifications/notification-service.ts';
import type { Processor } from '../context.ts';

export const CreateDigests = z.object({ timeZone: z.string() });

/** Daily: one digest per sales owner with open tasks (delivered by deliver-notifications). */
export const createDigestsJob: Processor<z.infer<typeof CreateDigests>> = async ({ timeZone }, { deps }) => createDigests(deps.db, deps.now(), timeZone);
