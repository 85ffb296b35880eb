import { pino } from 'pino';
import type { Db } from '../../db/client.ts';
import { InlineJobRuntime } from '../../jobs/inline.ts';
import { createResolver, type DnsLookup } from '../../src/dns/resolver.ts';
import type { JobRuntime } from '../../jobs/runtime.ts';
import { buildApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { openTestDatabase } from './database.ts';

export const testLogger = () => pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface TestApp {
  app: App;
  db: Db;
  databaseUrl: string;
  jobs: JobRuntime;
  close(): Promise<void>;
}

/**
 * The real app on its own PostgreSQL database, with the in-process job runtime unless the test
 * brings another (BullMQ). Requests go through `app.inject`, the whole HTTP stack but the socket.
 */
export async function buildTestApp(
  options: { jobs?: (db: Db) => JobRuntime; now?: () => Date; env?: Record<string, string>; dns?: DnsLookup } = {},
): Promise<TestApp> {
  const database = await openTestDatabase();
  const log = testLogger();
  const now = options.now ?? (() => new Date());
  const dns = options.dns ?? createResolver();
  const jobs = options.jobs?.(database.db) ?? new InlineJobRuntime({ db: database.db, now, log, dns }, { concurrency: 2, schedules: [] });
  const app = await buildApp(loadConfig({ ...options.env }), { database, jobs, now, logger: log, relayPollMs: 50 });
  await app.ready();
  return {
    app,
    db: database.db,
    databaseUrl: database.url,
    jobs,
    async close() {
      await app.close();
      await jobs.close();
      await database.drop();
    },
  };
}

/** Polls until `fn` returns a truthy value (for effects of background jobs); fails after `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
