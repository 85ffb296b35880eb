import type { JobsOptions } from 'bullmq';
import type { z } from 'zod';
import type { Processor } from './context.ts';
import { CheckDomain, checkDomainJob } from './processors/check-domain.ts';
import { CheckDomains, checkDomainsJob } from './processors/check-domains.ts';
import { CreateDigests, createDigestsJob } from './processors/create-digests.ts';
import { CreateReminders, createRemindersJob } from './processors/create-reminders.ts';
import { DeliverNotifications, deliverNotificationsJob } from './processors/deliver-notifications.ts';
import { EscalateTasks, escalateTasksJob } from './processors/escalate-tasks.ts';
import { MarkDomainsDue, markDomainsDue } from './processors/mark-domains-due.ts';
import { PruneOutbox, pruneOutbox } from './processors/prune-outbox.ts';
import { IMPORT_ATTEMPTS, RunImport, runImportJob } from './processors/run-import.ts';
import { SweepDomains, sweepDomains } from './processors/sweep-domains.ts';

interface JobDefinition<S extends z.ZodType> {
  payload: S;
  process: Processor<z.infer<S>>;
}
const job = <S extends z.ZodType>(payload: S, process: Processor<z.infer<S>>): JobDefinition<S> => ({ payload, process });

const DAY_S = 86_400;
const defaults: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: DAY_S },
  removeOnFail: { age: 7 * DAY_S },
};

/** Every queue: its jobs (name → payload schema and processor) and default options. Queues are nouns, jobs verbs. */
export const queues = {
  programs: {
    defaultJobOptions: defaults,
    jobs: { 'mark-domains-due': job(MarkDomainsDue, markDomainsDue) },
  },
  checks: {
    defaultJobOptions: { ...defaults, attempts: 3, removeOnComplete: { age: 3600 } },
    jobs: {
      'sweep-domains': job(SweepDomains, sweepDomains),
      'check-domain': job(CheckDomain, checkDomainJob),
      'check-domains': job(CheckDomains, checkDomainsJob),
    },
  },
  tasks: {
    defaultJobOptions: defaults,
    jobs: {
      'create-reminders': job(CreateReminders, createRemindersJob),
      'escalate-tasks': job(EscalateTasks, escalateTasksJob),
    },
  },
  notifications: {
    defaultJobOptions: defaults,
    jobs: {
      'create-digests': job(CreateDigests, createDigestsJob),
      'deliver-notifications': job(DeliverNotifications, deliverNotificationsJob),
    },
  },
  imports: {
    defaultJobOptions: { ...defaults, attempts: IMPORT_ATTEMPTS },
    jobs: { 'run-import': job(RunImport, runImportJob) },
  },
  housekeeping: {
    defaultJobOptions: { ...defaults, attempts: 3 },
    jobs: { 'prune-outbox': job(PruneOutbox, pruneOutbox) },
  },
} as const;

export type QueueName = keyof typeof queues;
export type JobName<Q extends QueueName> = keyof (typeof queues)[Q]['jobs'] & string;
export type JobPayload<Q extends QueueName, N extends JobName<Q>> = z.infer<(typeof queues)[Q]['jobs'][N] extends JobDefinition<infer S> ? S : never>;
export const queueNames = Object.keys(queues) as QueueName[];

export function findJob(queue: string, name: string): JobDefinition<z.ZodType> | undefined {
  const q = (queues as Record<string, { jobs: Record<string, JobDefinition<z.ZodType>> }>)[queue];
  return q?.jobs[name];
}

export function defaultOptionsOf(queue: QueueName): JobsOptions {
  return queues[queue].defaultJobOptions;
}

/** BullMQ and the inline runner both refuse `:` in custom job ids. */
export function assertJobId(jobId: string) {
  if (jobId.includes(':') || jobId === '') throw new Error(`Invalid job id "${jobId}": must be non-empty, without ':'`);
}
