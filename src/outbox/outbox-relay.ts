import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../../db/client.ts';
import type { QueueName } from '../job-contract/catalogue.ts';
import type { JobRuntime } from '../job-contract/runtime.ts';
import { exponentialBackoff } from '../lib/backoff.ts';
import { claimOutboxRows, markOutboxDispatched, markOutboxFailed, type OutboxRow } from './outbox-repository.ts';

export interface OutboxRelayOptions {
  db: Db;
  jobs: JobRuntime;
  log: FastifyBaseLogger;
  now: () => Date;
  /** How often to look for rows when nobody wakes the relay. */
  pollMs?: number;
  batchSize?: number;
}

const LEASE_MS = 5 * 60_000;
const MAX_RETRY_DELAY_MS = 5 * 60_000;

/**
 * Moves outbox rows to the job runtime after their transaction committed. Delivery is at least once:
 * a row is marked dispatched only after the runtime accepted it, and job ids are deterministic, so a
 * second delivery of the same row is ignored by the queue.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly inFlight = new Set<number>();

  constructor(private readonly options: OutboxRelayOptions) {}

  start() {
    this.schedule(0);
  }

  /** Deliver now rather than at the next poll, e.g. right after a request committed. */
  wake() {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  async stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass: deliver what is due. Exposed for tests and the CLI. */
  async drain(): Promise<number> {
    const { db, now } = this.options;
    let delivered = 0;
    for (;;) {
      const rows = (await claimOutboxRows(db, now(), this.options.batchSize ?? 100, LEASE_MS)).filter((row) => !this.inFlight.has(row.id));
      if (rows.length === 0) return delivered;
      await Promise.all(rows.map((row) => this.deliver(row)));
      delivered += rows.length;
    }
  }

  private async deliver(row: OutboxRow) {
    const { db, jobs, now, log } = this.options;
    this.inFlight.add(row.id);
    try {
      // A stored row was checked against the catalogue when it was written; the runtime checks it again when it runs.
      await jobs.enqueue(row.queue as QueueName, row.jobName as never, row.payload as never, row.jobId);
      await markOutboxDispatched(db, row.id, now());
    } catch (err) {
      const delay = exponentialBackoff(1000, row.attempts, MAX_RETRY_DELAY_MS);
      log.warn({ err, outboxId: row.id, queue: row.queue, jobId: row.jobId }, 'outbox delivery failed; will retry');
      await markOutboxFailed(db, row.id, String((err as Error)?.message ?? err), new Date(now().getTime() + delay)).catch(() => {});
    } finally {
      this.inFlight.delete(row.id);
    }
  }

  private schedule(ms: number) {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick() {
    this.running = this.drain()
      .then(() => undefined)
      .catch((err) => this.options.log.warn({ err }, 'outbox relay pass failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule(0);
        } else {
          this.schedule(this.options.pollMs ?? 1000);
        }
      });
    await this.running;
  }
}
