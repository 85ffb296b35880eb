import type { Enqueue } from './catalogue.ts';

export const jobStates = ['waiting', 'active', 'delayed', 'completed', 'failed'] as const;
export type JobState = (typeof jobStates)[number];
export type JobCounts = Record<string, Record<JobState, number>>;

export interface FailedJob {
  queue: string;
  id: string;
  name: string;
  data: unknown;
  failedReason: string;
  attemptsMade: number;
  finishedAt: string | null;
}

/** What the API needs from the job system, whether BullMQ or the in-process runner. */
export interface JobRuntime {
  readonly mode: 'bullmq' | 'inline';
  /** Accepts a job. A job id already accepted (waiting, running or recently finished) is ignored. */
  enqueue: Enqueue;
  counts(): Promise<JobCounts>;
  /** The most recent failed jobs (failed for good), newest first. */
  failed(limit: number): Promise<FailedJob[]>;
  /** Throws when the job system cannot take jobs (Redis down). */
  ping(): Promise<void>;
  /** Stops taking jobs and waits for the running ones. */
  close(): Promise<void>;
}
