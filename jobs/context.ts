import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.ts';

/** What a processor may use. Time comes from `now()`, never from the clock directly. */
export interface JobDeps {
  db: Db;
  now: () => Date;
  log: FastifyBaseLogger;
}

export interface JobContext {
  jobId: string;
  attemptsMade: number;
  deps: JobDeps;
}

export type Processor<Payload> = (data: Payload, ctx: JobContext) => Promise<unknown>;
