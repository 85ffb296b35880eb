import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { assertJobId, defaultOptionsOf, queueNames, type QueueName } from '../src/job-contract/catalogue.ts';
import { jobStates, type JobCounts, type JobRuntime } from '../src/job-contract/runtime.ts';
import type { Schedule } from '../src/job-contract/schedules.ts';
import type { JobDeps } from './context.ts';
import { findJob } from './registry.ts';

export interface BullOptions {
  redisUrl: string;
  prefix: string;
}

/**
 * Producer side for the API: fails fast when Redis is down (no offline queue), so a request is not
 * held hostage; the outbox keeps what could not be enqueued.
 */
export function createBullRuntime(options: BullOptions, onError: (err: Error) => void): JobRuntime & { queues: Record<QueueName, Queue> } {
  const connection = new Redis(options.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: false,
  });
  connection.on('error', onError);
  const queues = Object.fromEntries(
    queueNames.map((name) => {
      const queue = new Queue(name, { connection, prefix: options.prefix, defaultJobOptions: defaultOptionsOf(name) });
      queue.on('error', onError);
      return [name, queue];
    }),
  ) as Record<QueueName, Queue>;

  return {
    mode: 'bullmq',
    queues,
    async enqueue(queue, name, data, jobId) {
      assertJobId(jobId);
      await queues[queue].add(name, data, { jobId });
    },
    async counts() {
      const result: JobCounts = {};
      for (const [name, queue] of Object.entries(queues)) {
        result[name] = (await queue.getJobCounts(...jobStates)) as JobCounts[string];
      }
      return result;
    },
    async failed(limit) {
      const all = await Promise.all(
        Object.entries(queues).map(async ([name, queue]) =>
          (await queue.getFailed(0, limit - 1)).map((job) => ({
            queue: name,
            id: job.id ?? '',
            name: job.name,
            data: job.data,
            failedReason: job.failedReason,
            attemptsMade: job.attemptsMade,
            finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
          })),
        ),
      );
      return all
        .flat()
        .sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? ''))
        .slice(0, limit);
    },
    async ping() {
      await connection.ping();
    },
    async close() {
      await Promise.all(Object.values(queues).map((q) => q.close()));
      connection.disconnect();
    },
  };
}

/** Runs one BullMQ job through the processor its queue map names. */
export async function runBullJob(job: Job, deps: JobDeps) {
  const definition = findJob(job.queueName, job.name);
  // Neither a missing processor nor a bad payload gets better with retries.
  if (!definition) throw new UnrecoverableError(`No processor for job "${job.name}" on queue "${job.queueName}"`);
  const parsed = definition.payload.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`Invalid payload for job "${job.name}": ${parsed.error.message}`);
  const data = parsed.data;
  return definition.process(data, { jobId: job.id ?? '', attemptsMade: job.attemptsMade, deps });
}

export interface BullWorkers {
  close(): Promise<void>;
}

/** Stalls (a worker killed or frozen past its lock) a job survives before it fails. */
const MAX_STALLS = 5;

/** Consumer side: one Worker per queue, and the schedules applied. Used by `npm run worker` and `npm start`. */
export async function startBullWorkers(
  options: BullOptions & { concurrency: number; schedules: Schedule[]; lockMs?: number },
  baseDeps: Omit<JobDeps, 'enqueue'>,
  producer: JobRuntime & { queues: Record<QueueName, Queue> },
): Promise<BullWorkers> {
  const deps: JobDeps = { ...baseDeps, enqueue: producer.enqueue };
  // Workers block on Redis: they must wait for it, not fail requests (maxRetriesPerRequest: null).
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', (err) => deps.log.error({ err }, 'worker redis error'));
  const workers = queueNames.map((name) => {
    const worker = new Worker(name, (job) => runBullJob(job, deps), {
      connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      // A killed worker's job is found stalled and run again within two lock periods: its lock lapses
      // within one, and the stalled check runs every half. Every job's effects are idempotent (a sweep's
      // batch records one check per domain for its claim), and a worker killed from outside is not the
      // job's fault, so a job survives several stalls in a row instead of failing at the second and
      // leaving its domains to wait for their 10-minute lease.
      ...(options.lockMs ? { lockDuration: options.lockMs, stalledInterval: Math.max(250, Math.floor(options.lockMs / 2)) } : {}),
      maxStalledCount: MAX_STALLS,
    });
    worker.on('error', (err) => deps.log.error({ err, queue: name }, 'worker error'));
    worker.on('failed', (job, err) => deps.log.warn({ err, queue: name, jobId: job?.id, attemptsMade: job?.attemptsMade }, 'job failed'));
    return worker;
  });
  await applySchedules(producer.queues, options.schedules);
  return {
    async close() {
      // Worker.close() waits for the active jobs to finish.
      await Promise.all(workers.map((w) => w.close()));
      connection.disconnect();
    },
  };
}

/** Applies the schedules to BullMQ: the one place that calls upsertJobScheduler. Stale schedulers are removed. */
export async function applySchedules(queueByName: Record<QueueName, Queue>, schedules: Schedule[]) {
  for (const [queueName, queue] of Object.entries(queueByName)) {
    const wanted = schedules.filter((s) => s.queue === queueName);
    for (const s of wanted) {
      await queue.upsertJobScheduler(s.id, { pattern: s.pattern, tz: s.tz }, { name: s.name, data: s.data });
    }
    for (const existing of await queue.getJobSchedulers()) {
      if (!wanted.some((s) => s.id === existing.key)) await queue.removeJobScheduler(existing.key);
    }
  }
}
