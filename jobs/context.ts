import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.ts';
import type { Config } from '../src/config.ts';
import { createCachedLookup, createResolver, withRateLimit, type DnsLookup } from '../src/dns/resolver.ts';
import type { Enqueue } from '../src/job-contract/catalogue.ts';
import type { Webhook } from '../src/notifications/notification-service.ts';

/** What a processor may use. Time comes from `now()`, never from the clock directly. */
export interface JobDeps {
  db: Db;
  now: () => Date;
  log: FastifyBaseLogger;
  /** The process's resolver: one short-lived cache shared by every probe of a sweep. */
  dns: DnsLookup;
  /** Hands a job to this process's job runtime (for processors that fan out). */
  enqueue: Enqueue;
  /** Where notifications go; unset: they are only logged. */
  webhook?: Webhook | undefined;
}

export const webhookOf = (config: Pick<Config, 'NOTIFY_WEBHOOK_URL' | 'NOTIFY_WEBHOOK_SECRET'>): Webhook | undefined =>
  config.NOTIFY_WEBHOOK_URL && config.NOTIFY_WEBHOOK_SECRET ? { url: config.NOTIFY_WEBHOOK_URL, secret: config.NOTIFY_WEBHOOK_SECRET } : undefined;

/** The resolver processors share, from the configuration: cached, and rate-limited if DNS_QPS is set. */
export function createJobDns(config: Pick<Config, 'DNS_SERVERS' | 'DNS_TIMEOUT_MS' | 'DNS_QPS'>): DnsLookup {
  const resolver = createResolver({ servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: 2 });
  return createCachedLookup(config.DNS_QPS ? withRateLimit(resolver, config.DNS_QPS) : resolver, { ttlMs: 60_000 });
}

export interface JobContext {
  jobId: string;
  attemptsMade: number;
  deps: JobDeps;
}

/** The function that does a job (named apart from BullMQ's own `Processor`, which is a worker callback). */
export type JobProcessor<Payload> = (data: Payload, ctx: JobContext) => Promise<unknown>;
