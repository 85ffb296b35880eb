import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/**
 * The job contract: every queue, its jobs, their payloads and options. This is all the rest of `src`
 * knows of background work; which function processes a job is the registry's business (jobs/registry.ts),
 * which only the job runtimes import. Queues are nouns, jobs verbs.
 */

const DAY_S = 86_400;
const defaults: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: DAY_S },
  removeOnFail: { age: 7 * DAY_S },
};

/** Why a domain is probed; recorded on its check. */
export const ProbeTrigger = z.enum(['sweep', 'on_demand', 'cli']);

/** Attempts of an import job before it is marked failed (the queue's `attempts`). */
export const IMPORT_ATTEMPTS = 3;

export const queues = {
  programs: {
    defaultJobOptions: defaults,
    jobs: {
      /** A program's identifiers changed: every domain of it is due for a fresh check. */
      'mark-domains-due': z.object({
        programId: z.uuid(),
        /** Why, for the log: e.g. `legacy identifiers changed`. */
        reason: z.string(),
      }),
    },
  },
  probes: {
    defaultJobOptions: { ...defaults, attempts: 3, removeOnComplete: { age: 3600 } },
    jobs: {
      /** Every minute: claims the due domains and hands them to probe-domains jobs in batches. */
      'sweep-domains': z.object({
        /** Most domains claimed by one pass; the next pass (a minute later) takes the rest. */
        limit: z.number().int().min(1).max(100_000).default(5000),
        programId: z.uuid().optional(),
        /** Domains per probe job: each job probes its batch concurrently and records it in one transaction. */
        batchSize: z.number().int().min(1).max(500).default(50),
        /** What the batches record as their trigger: `cli` when `jobs run dns-sweep` runs the pass. */
        trigger: ProbeTrigger.exclude(['on_demand']).default('sweep'),
      }),
      /** One domain, on demand. */
      'probe-domain': z.object({ domainId: z.uuid(), trigger: ProbeTrigger }),
      /** A batch of domains, recorded in one transaction. */
      'probe-domains': z.object({
        domainIds: z.array(z.uuid()).min(1).max(500),
        trigger: ProbeTrigger,
        /** When a sweep claimed the domains: a re-delivered job skips those checked since (see probeDomains). */
        claimedAt: z.iso.datetime().optional(),
      }),
    },
  },
  tasks: {
    defaultJobOptions: defaults,
    jobs: {
      /** Hourly: the reminder tasks each program's calendar calls for today. */
      'create-reminders': z.object({ programId: z.uuid().optional() }),
      /** Hourly: one escalation per overdue open task. */
      'escalate-tasks': z.object({ programId: z.uuid().optional() }),
    },
  },
  notifications: {
    defaultJobOptions: defaults,
    jobs: {
      /** Daily: one digest per sales owner with open tasks. */
      'create-digests': z.object({ timeZone: z.string() }),
      /** Every minute: sends due notifications to the webhook. */
      'deliver-notifications': z.object({}),
    },
  },
  imports: {
    defaultJobOptions: { ...defaults, attempts: IMPORT_ATTEMPTS },
    jobs: {
      /** Plans and writes a large import received by the API. */
      'run-import': z.object({ importId: z.uuid() }),
    },
  },
  housekeeping: {
    defaultJobOptions: { ...defaults, attempts: 3 },
    jobs: {
      /** Daily: delivered outbox rows older than this are removed. */
      'prune-outbox': z.object({ olderThanDays: z.number().int().min(1) }),
    },
  },
} as const satisfies Record<string, { defaultJobOptions: JobsOptions; jobs: Record<string, z.ZodType> }>;

export type QueueName = keyof typeof queues;
export type JobName<Q extends QueueName> = keyof (typeof queues)[Q]['jobs'] & string;
type PayloadSchema<Q extends QueueName, N extends JobName<Q>> = (typeof queues)[Q]['jobs'][N];
/** What a processor receives: the payload parsed, defaults applied. */
export type JobPayload<Q extends QueueName, N extends JobName<Q>> = z.output<PayloadSchema<Q, N>>;
/** What an enqueuer sends: the payload before defaults. */
export type JobInput<Q extends QueueName, N extends JobName<Q>> = z.input<PayloadSchema<Q, N>>;

export const queueNames = Object.keys(queues) as QueueName[];

/** Hands a job to a job runtime (or the outbox): queue, job and payload checked by the compiler. */
export type Enqueue = <Q extends QueueName, N extends JobName<Q>>(queue: Q, name: N, data: JobInput<Q, N>, jobId: string) => Promise<void>;

/** The payload schema of a job, or undefined for a name the catalogue does not know (a stored job from another version). */
export function payloadSchemaOf(queue: string, name: string): z.ZodType | undefined {
  const q = (queues as Record<string, { jobs: Record<string, z.ZodType> }>)[queue];
  return q && Object.hasOwn(q.jobs, name) ? q.jobs[name] : undefined;
}

export const isQueueName = (name: string): name is QueueName => Object.hasOwn(queues, name);

export function defaultOptionsOf(queue: QueueName): JobsOptions {
  return queues[queue].defaultJobOptions;
}

/** BullMQ and the inline runner both refuse `:` in custom job ids. */
export function assertJobId(jobId: string) {
  if (jobId.includes(':') || jobId === '') throw new Error(`Invalid job id "${jobId}": must be non-empty, without ':'`);
}
