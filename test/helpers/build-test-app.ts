import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import type { Database, Db } from '../../db/client.ts';
import { buildJobSystem } from '../../jobs/system.ts';
import { createResolver, type DnsLookup } from '../../src/dns/resolver.ts';
import type { JobRuntime } from '../../src/job-contract/runtime.ts';
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
 * The real app on a database the test opened itself (through a proxy, with a statement timeout…),
 * with the in-process job runtime. `close()` closes the app and its jobs, not the database.
 */
export async function buildAppOn(
  database: Database,
  options: { env?: Record<string, string>; logger?: FastifyBaseLogger; now?: () => Date; dns?: DnsLookup; jobs?: (db: Db) => JobRuntime } = {},
) {
  const log = options.logger ?? testLogger();
  const now = options.now ?? (() => new Date());
  // Rate limits are off unless a test sets them: the suite sends far more than a person would.
  const config = loadConfig({ RATE_LIMIT_PER_TOKEN: '0', RATE_LIMIT_PER_IP: '0', ...options.env });
  // Tests never ask the machine's resolvers: without a DNS server of the test's own, questions go to
  // a closed loopback port and fail at once.
  const dns = options.dns ?? createResolver({ servers: ['127.0.0.1:9'], timeoutMs: 200, tries: 1 });
  // The in-process jobs, unless the test brings its own runtime (BullMQ, an unreachable Redis…).
  const own = options.jobs?.(database.db);
  const system = own
    ? undefined
    : await buildJobSystem(config, { db: database.db, log, now, dns }, { work: true, inline: true, schedules: [], concurrency: 2 });
  const jobs = own ?? system!.runtime;
  const app = await buildApp(config, { database, jobs, now, logger: log, relayPollMs: 50, dns });
  await app.ready();
  return {
    app,
    jobs,
    async close() {
      await app.close();
      await (system ?? jobs).close();
    },
  };
}

/**
 * The real app on its own PostgreSQL database, with the in-process job runtime unless the test
 * brings another (BullMQ). Requests go through `app.inject`, the whole HTTP stack but the socket.
 */
export async function buildTestApp(
  options: { jobs?: (db: Db) => JobRuntime; now?: () => Date; env?: Record<string, string>; dns?: DnsLookup } = {},
): Promise<TestApp> {
  const database = await openTestDatabase();
  const { app, jobs, close } = await buildAppOn(database, options);
  return {
    app,
    db: database.db,
    databaseUrl: database.url,
    jobs,
    async close() {
      await close();
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
