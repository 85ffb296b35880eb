import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.ts';
import type { Config } from '../src/config.ts';
import type { DnsLookup } from '../src/dns/resolver.ts';
import type { JobRuntime } from '../src/job-contract/runtime.ts';
import { schedulesFor, type Schedule } from '../src/job-contract/schedules.ts';
import { createBullRuntime, startBullWorkers, type BullWorkers } from './bullmq.ts';
import { createJobDns, webhookOf } from './context.ts';
import { InlineJobRuntime, type InlineOptions } from './inline.ts';

export interface JobSystemParts {
  db: Db;
  log: FastifyBaseLogger;
  now?: () => Date;
  /** The processors' resolver; default: the configured servers, cached and rate-limited (createJobDns). */
  dns?: DnsLookup;
}

export interface JobSystemOptions {
  /**
   * Whether this process runs processors. False for `npm run api` beside separate workers: the API only
   * enqueues. Without Redis jobs always run in this process (there is no queue for anyone else).
   */
  work: boolean;
  /** In this process whatever the configuration (`jobs run` in the CLI runs its jobs before it exits). */
  inline?: boolean;
  /** Recurring jobs; default: every schedule of the contract. Tests and one-off runs pass []. */
  schedules?: Schedule[];
  /** Processors at once per queue (BullMQ) or in all (inline); default JOB_CONCURRENCY. */
  concurrency?: number;
  retries?: InlineOptions['retries'];
  onFinished?: InlineOptions['onFinished'];
}

export interface JobSystem {
  /** Where the API and the outbox hand jobs. */
  runtime: JobRuntime;
  /** Resolves when this process has no job waiting or running (in-process jobs only; BullMQ's may run elsewhere). */
  idle(): Promise<void>;
  /** Stops taking jobs, waits for the running ones, then closes the connections. */
  close(): Promise<void>;
}

/**
 * The one place the job system is put together, for the API (`npm start`, `npm run api`), the worker
 * (`npm run worker`), the CLI (`jobs run`), the OpenAPI generator and the tests: BullMQ when REDIS_URL
 * is set, otherwise the same processors in this process.
 */
export async function buildJobSystem(config: Config, parts: JobSystemParts, options: JobSystemOptions): Promise<JobSystem> {
  const deps = {
    db: parts.db,
    log: parts.log,
    now: parts.now ?? (() => new Date()),
    dns: parts.dns ?? createJobDns(config),
    webhook: webhookOf(config),
  };
  const schedules = options.schedules ?? schedulesFor(config);
  const concurrency = options.concurrency ?? config.JOB_CONCURRENCY;

  if (!config.REDIS_URL || options.inline) {
    if (!options.work && !options.inline) parts.log.warn('REDIS_URL is not set: jobs run in this process (there is no queue for separate workers)');
    const inline = new InlineJobRuntime(deps, { concurrency, schedules, retries: options.retries, onFinished: options.onFinished });
    return { runtime: inline, idle: () => inline.idle(), close: () => inline.close() };
  }

  const bull = createBullRuntime({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX }, (err) => parts.log.warn({ err }, 'redis connection error'));
  let workers: BullWorkers | undefined;
  if (options.work) {
    workers = await startBullWorkers(
      { redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX, concurrency, schedules, lockMs: config.JOB_LOCK_MS },
      deps,
      bull,
    );
  }
  return {
    runtime: bull,
    idle: async () => {},
    async close() {
      await workers?.close();
      await bull.close();
    },
  };
}
