import { CronExpressionParser } from 'cron-parser';
import { exponentialBackoff } from '../src/lib/backoff.ts';
import { assertJobId, defaultOptionsOf, queueNames, type Enqueue, type QueueName } from '../src/job-contract/catalogue.ts';
import { jobStates, type FailedJob, type JobCounts, type JobRuntime, type JobState } from '../src/job-contract/runtime.ts';
import type { Schedule } from '../src/job-contract/schedules.ts';
import type { JobDeps } from './context.ts';
import { findJob } from './registry.ts';

interface InlineJob {
  id: string;
  queue: QueueName;
  name: string;
  data: unknown;
  attemptsMade: number;
  state: JobState;
  finishedAt?: number;
  failedReason?: string;
}

export interface InlineOptions {
  concurrency: number;
  schedules: Schedule[];
  /** false: a failed job fails for good at once, whatever its queue's attempts (the CLI's one-off runs). Default true. */
  retries?: boolean;
  /** Told of every job that finished (completed or failed for good), with the processor's result. */
  onFinished?: (job: FinishedJob) => void;
}

export interface FinishedJob {
  queue: QueueName;
  name: string;
  id: string;
  state: 'completed' | 'failed';
  result?: unknown;
  failedReason?: string;
}

/**
 * Single-node mode: the same processors and schedules as the BullMQ workers, run in this process.
 * Jobs live in memory; what must survive a restart is written to the outbox first, and the outbox
 * row is only marked delivered once the job has run (see enqueue's promise).
 */
export class InlineJobRuntime implements JobRuntime {
  readonly mode = 'inline' as const;
  private readonly jobs = new Map<string, InlineJob>();
  private readonly waiting: InlineJob[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly done = new Map<string, Array<() => void>>();
  private closed = false;

  private readonly deps: JobDeps;

  constructor(
    deps: Omit<JobDeps, 'enqueue'>,
    private readonly options: InlineOptions,
  ) {
    // A processor that fans out must not wait for its children: they may need the slot it holds.
    this.deps = { ...deps, enqueue: async (queue, name, data, jobId) => void this.enqueue(queue, name, data, jobId).catch(() => {}) };
    for (const schedule of options.schedules) this.scheduleNext(schedule);
  }

  /** Resolves once the job has finished (completed or failed for good). */
  readonly enqueue: Enqueue = (queue, name, data, jobId) => this.accept(queue, name, data, jobId);

  /** Resolves once every job accepted so far, and every job they enqueued, has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0 || this.waiting.length > 0 || [...this.jobs.values()].some((j) => j.state === 'delayed')) {
      await Promise.race([...this.running, new Promise((r) => setTimeout(r, 20))]);
    }
  }

  private accept(queue: QueueName, name: string, data: unknown, jobId: string): Promise<void> {
    assertJobId(jobId);
    if (this.closed) return Promise.reject(new Error('The job runner is shutting down'));
    const key = `${queue}/${jobId}`;
    const existing = this.jobs.get(key);
    if (existing && existing.state !== 'waiting' && existing.state !== 'active' && existing.state !== 'delayed') {
      return Promise.resolve();
    }
    // Register the waiter first: a job can finish synchronously inside pump().
    const finished = new Promise<void>((resolve) => this.done.set(key, [...(this.done.get(key) ?? []), resolve]));
    if (!existing) {
      const job: InlineJob = { id: jobId, queue, name, data, attemptsMade: 0, state: 'waiting' };
      this.jobs.set(key, job);
      this.waiting.push(job);
      this.pump();
    }
    return finished;
  }

  async counts(): Promise<JobCounts> {
    const result: JobCounts = {};
    for (const queue of queueNames) {
      result[queue] = Object.fromEntries(jobStates.map((s) => [s, 0])) as Record<JobState, number>;
    }
    for (const job of this.jobs.values()) result[job.queue]![job.state]++;
    return result;
  }

  async failed(limit: number): Promise<FailedJob[]> {
    return [...this.jobs.values()]
      .filter((j) => j.state === 'failed')
      .sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0))
      .slice(0, limit)
      .map((j) => ({
        queue: j.queue,
        id: j.id,
        name: j.name,
        data: j.data,
        failedReason: j.failedReason ?? '',
        attemptsMade: j.attemptsMade,
        finishedAt: j.finishedAt ? new Date(j.finishedAt).toISOString() : null,
      }));
  }

  async ping() {}

  async close() {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private pump() {
    while (!this.closed && this.running.size < this.options.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      const run = this.run(job).finally(() => {
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async run(job: InlineJob) {
    const definition = findJob(job.queue, job.name);
    const options = defaultOptionsOf(job.queue);
    job.state = 'active';
    // Neither a missing processor nor a bad payload gets better with retries.
    const parsed = definition?.payload.safeParse(job.data);
    if (!definition || !parsed?.success) {
      job.attemptsMade++;
      job.failedReason = definition
        ? `Invalid payload for job "${job.name}": ${parsed!.error!.message}`
        : `No processor for job "${job.name}" on queue "${job.queue}"`;
      this.deps.log.warn({ queue: job.queue, jobId: job.id, reason: job.failedReason }, 'job failed for good');
      this.finish(job, 'failed');
      return;
    }
    try {
      const result = await definition.process(parsed.data, {
        jobId: job.id,
        attemptsMade: job.attemptsMade,
        deps: this.deps,
      });
      this.finish(job, 'completed', result);
    } catch (err) {
      job.attemptsMade++;
      job.failedReason = (err as Error)?.message ?? String(err);
      const attempts = this.options.retries === false ? 1 : (options.attempts ?? 1);
      this.deps.log.warn({ err, queue: job.queue, jobId: job.id, attemptsMade: job.attemptsMade }, 'job failed');
      if (job.attemptsMade >= attempts || this.closed) {
        this.finish(job, 'failed');
        return;
      }
      const backoff = options.backoff;
      const base = typeof backoff === 'number' ? backoff : (backoff?.delay ?? 1000);
      const delay = typeof backoff === 'object' && backoff.type === 'fixed' ? base : exponentialBackoff(base, job.attemptsMade - 1);
      job.state = 'delayed';
      this.later(delay, () => {
        job.state = 'waiting';
        this.waiting.push(job);
        this.pump();
      });
    }
  }

  private finish(job: InlineJob, state: 'completed' | 'failed', result?: unknown) {
    const key = `${job.queue}/${job.id}`;
    job.state = state;
    job.finishedAt = Date.now();
    this.options.onFinished?.({ queue: job.queue, name: job.name, id: job.id, state, result, failedReason: job.failedReason });
    for (const resolve of this.done.get(key) ?? []) resolve();
    this.done.delete(key);
    this.forgetOldJobs();
  }

  /** Finished jobs are remembered (for de-duplication and counts) as long as BullMQ would keep them. */
  private forgetOldJobs() {
    const now = Date.now();
    for (const [key, job] of this.jobs) {
      const opts = defaultOptionsOf(job.queue);
      const keep = job.state === 'completed' ? opts.removeOnComplete : opts.removeOnFail;
      const ageS = typeof keep === 'object' && 'age' in keep && keep.age !== undefined ? keep.age : 86_400;
      if (job.finishedAt !== undefined && now - job.finishedAt > ageS * 1000) this.jobs.delete(key);
    }
  }

  private later(ms: number, fn: () => void) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  private scheduleNext(schedule: Schedule) {
    const next = CronExpressionParser.parse(schedule.pattern, { tz: schedule.tz, currentDate: new Date() }).next().toDate();
    // setTimeout's limit is ~24.8 days; a longer wait just re-plans on the way.
    const wait = Math.min(next.getTime() - Date.now(), 2 ** 31 - 1);
    this.later(wait, () => {
      if (Date.now() >= next.getTime()) {
        this.accept(schedule.queue, schedule.name, schedule.data, `${schedule.id}-${next.getTime()}`).catch(() => {});
      }
      this.scheduleNext(schedule);
    });
  }
}
