import type { z } from 'zod';
import { payloadSchemaOf, type JobName, type JobPayload, type QueueName } from '../src/job-contract/catalogue.ts';
import type { JobProcessor } from './context.ts';
import { createDigestsJob } from './processors/create-digests.ts';
import { createRemindersJob } from './processors/create-reminders.ts';
import { deliverNotificationsJob } from './processors/deliver-notifications.ts';
import { escalateTasksJob } from './processors/escalate-tasks.ts';
import { markDomainsDue } from './processors/mark-domains-due.ts';
import { probeDomainJob } from './processors/probe-domain.ts';
import { probeDomainsJob } from './processors/probe-domains.ts';
import { pruneOutbox } from './processors/prune-outbox.ts';
import { runImportJob } from './processors/run-import.ts';
import { sweepDomains } from './processors/sweep-domains.ts';

/**
 * Which processor does each job of the catalogue. Only the job runtimes (BullMQ workers, the inline
 * runner) import this; the compiler fails when a job of the catalogue has no processor here.
 */
const registry: { [Q in QueueName]: { [N in JobName<Q>]: JobProcessor<JobPayload<Q, N>> } } = {
  programs: { 'mark-domains-due': markDomainsDue },
  probes: { 'sweep-domains': sweepDomains, 'probe-domain': probeDomainJob, 'probe-domains': probeDomainsJob },
  tasks: { 'create-reminders': createRemindersJob, 'escalate-tasks': escalateTasksJob },
  notifications: { 'create-digests': createDigestsJob, 'deliver-notifications': deliverNotificationsJob },
  imports: { 'run-import': runImportJob },
  housekeeping: { 'prune-outbox': pruneOutbox },
};

/** A job's payload schema and processor, or undefined for a job this version does not know. */
export function findJob(queue: string, name: string): { payload: z.ZodType; process: JobProcessor<unknown> } | undefined {
  const payload = payloadSchemaOf(queue, name);
  if (!payload) return undefined;
  const process = (registry as Record<string, Record<string, JobProcessor<unknown>>>)[queue]![name]!;
  return { payload, process };
}
