import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domains, outbox } from '../db/schema/index.ts';
import { applySchedules, createBullRuntime, startBullWorkers, type BullWorkers } from '../jobs/bullmq.ts';
import { InlineJobRuntime } from '../jobs/inline.ts';
import { pruneOutbox } from '../jobs/processors/prune-outbox.ts';
import type { JobRuntime } from '../src/job-contract/runtime.ts';
import { schedulesFor } from '../src/job-contract/schedules.ts';
import { loadConfig } from '../src/config.ts';
import { createResolver } from '../src/dns/resolver.ts';
import { OutboxRelay } from '../src/outbox/outbox-relay.ts';
import { enqueueInOutbox } from '../src/outbox/outbox-repository.ts';
import { buildTestApp, eventually, testLogger, type TestApp } from './helpers/build-test-app.ts';
import { TEST_REDIS_URL } from './helpers/env.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken, programBody } from './helpers/factories.ts';

const prefix = `mdt-test-${randomBytes(4).toString('hex')}`;
const log = testLogger();
const dns = createResolver();

type Bull = ReturnType<typeof createBullRuntime>;

/** The same scenarios, once on BullMQ with real Redis and once on the in-process runner. */
describe.each(['bullmq', 'inline'] as const)('jobs on the %s runtime', (mode) => {
  let t: TestApp;
  let workers: BullWorkers | undefined;

  beforeAll(async () => {
    t = await buildTestApp({
      jobs: (db) =>
        mode === 'bullmq'
          ? createBullRuntime({ redisUrl: TEST_REDIS_URL, prefix }, (err) => log.warn({ err }))
          : new InlineJobRuntime({ db, now: () => new Date(), log, dns }, { concurrency: 2, schedules: [] }),
    });
    if (mode === 'bullmq') {
      workers = await startBullWorkers(
        { redisUrl: TEST_REDIS_URL, prefix, concurrency: 2, schedules: [] },
        { db: t.db, now: () => new Date(), log, dns },
        t.jobs as Bull,
      );
    }
  });
  afterAll(async () => {
    await workers?.close();
    if (mode === 'bullmq') for (const q of Object.values((t.jobs as Bull).queues)) await q.obliterate({ force: true });
    await t.close();
  });

  it('runs the job a request wrote to the outbox, after the commit', async () => {
    const { auth } = await makeToken(t.db, 'admin');
    const created = await t.app.inject({ method: 'POST', url: '/v1/programs', headers: auth, payload: programBody() });
    const program = created.json();
    const owner = await makeSalesOwner(t.db);
    const later = new Date(Date.now() + 86_400_000);
    const domain = await makeDomain(t.db, await makeCustomer(t.db, program.id, owner.id), { nextCheckAt: later });

    const res = await t.app.inject({
      method: 'PATCH',
      url: `/v1/programs/${program.id}`,
      headers: { ...auth, 'if-match': '"1"' },
      payload: { successor: { spfIncludes: ['spf.new-gateway.example'] } },
    });
    expect(res.statusCode).toBe(200);
    await eventually(
      async () => {
        const [d] = await t.db.select().from(domains).where(eq(domains.id, domain.id));
        return d!.nextCheckAt < later;
      },
      15_000,
      'the worker to mark the domain due',
    );
  });

  it('runs a job id once however often it is enqueued', async () => {
    const program = await makeProgram(t.db);
    const jobId = `dedupe-${randomBytes(3).toString('hex')}`;
    const before = (await t.jobs.counts()).programs!.completed;
    await Promise.all([1, 2, 3].map(() => t.jobs.enqueue('programs', 'mark-domains-due', { programId: program.id, reason: 'test' }, jobId)));
    await eventually(async () => (await t.jobs.counts()).programs!.completed === before + 1, 15_000, 'the job to complete');
    await t.jobs.enqueue('programs', 'mark-domains-due', { programId: program.id, reason: 'test' }, jobId);
    await new Promise((r) => setTimeout(r, 300));
    const counts = (await t.jobs.counts()).programs!;
    expect(counts.completed).toBe(before + 1);
    expect(counts.waiting + counts.active).toBe(0);
  });

  it('fails a job with an invalid payload at once, without retries, and lists it with its reason', async () => {
    const jobId = `bad-${randomBytes(3).toString('hex')}`;
    await t.jobs.enqueue('programs', 'mark-domains-due', { programId: 42 } as never, jobId);
    const failed = await eventually(async () => (await t.jobs.failed(10)).find((f) => f.id === jobId), 10_000, 'the job to fail');
    expect(failed).toMatchObject({ queue: 'programs', name: 'mark-domains-due', attemptsMade: 1, failedReason: expect.stringMatching(/Invalid payload/) });
  });

  it('keeps outbox rows the runtime could not take, and delivers them later', async () => {
    const program = await makeProgram(t.db);
    // Due an hour from now, on the clocks of the two relays below: the app's own relay (real clock)
    // must not take it first.
    const inAnHour = new Date(Date.now() + 3_600_000);
    await enqueueInOutbox(t.db, 'programs', 'mark-domains-due', { programId: program.id, reason: 'later' }, `kept-${program.id}`, inAnHour);
    const broken: JobRuntime = {
      mode: 'bullmq',
      enqueue: async () => {
        throw new Error('Redis is down');
      },
      counts: async () => ({}),
      failed: async () => [],
      ping: async () => {},
      close: async () => {},
    };
    await new OutboxRelay({ db: t.db, jobs: broken, log, now: () => inAnHour }).drain();
    const [kept] = await t.db
      .select()
      .from(outbox)
      .where(eq(outbox.jobId, `kept-${program.id}`));
    expect(kept).toMatchObject({ dispatchedAt: null, lastError: 'Redis is down', attempts: 1 });
    expect(kept!.availableAt.getTime()).toBeGreaterThan(inAnHour.getTime());

    // Once the retry time has come, a working relay delivers it.
    const future = () => new Date(inAnHour.getTime() + 10 * 60_000);
    await new OutboxRelay({ db: t.db, jobs: t.jobs, log, now: future }).drain();
    const [delivered] = await t.db
      .select()
      .from(outbox)
      .where(eq(outbox.jobId, `kept-${program.id}`));
    expect(delivered!.dispatchedAt).not.toBeNull();
    expect(delivered!.attempts).toBe(2);
  });
});

describe('schedules on BullMQ', () => {
  it('are applied idempotently, and schedulers no longer defined are removed', async () => {
    const own = `mdt-test-${randomBytes(4).toString('hex')}`;
    const bull = createBullRuntime({ redisUrl: TEST_REDIS_URL, prefix: own }, () => {});
    try {
      await bull.queues.housekeeping.upsertJobScheduler('retired-schedule', { every: 60_000 }, { name: 'prune-outbox', data: { olderThanDays: 1 } });
      const schedules = schedulesFor(loadConfig({}));
      await applySchedules(bull.queues, schedules);
      await applySchedules(bull.queues, schedules);
      const found = await bull.queues.housekeeping.getJobSchedulers();
      expect(found.map((s) => s.key).sort()).toEqual(
        schedules
          .filter((s) => s.queue === 'housekeeping')
          .map((s) => s.id)
          .sort(),
      );
      expect(found[0]).toMatchObject({ pattern: '30 3 * * *', tz: 'UTC' });
    } finally {
      for (const q of Object.values(bull.queues)) await q.obliterate({ force: true });
      await bull.close();
    }
  });
});

describe('schedules in-process', () => {
  it('fire on their cron pattern with one job id per firing', async () => {
    const t = await buildTestApp();
    const program = await makeProgram(t.db);
    const later = new Date(Date.now() + 86_400_000);
    const domain = await makeDomain(t.db, await makeCustomer(t.db, program.id, (await makeSalesOwner(t.db)).id), { nextCheckAt: later });
    const runtime = new InlineJobRuntime(
      { db: t.db, now: () => new Date(), log, dns },
      {
        concurrency: 1,
        schedules: [
          {
            id: 'every-second',
            queue: 'programs',
            name: 'mark-domains-due',
            pattern: '* * * * * *',
            tz: 'Asia/Tokyo',
            data: { programId: program.id, reason: 'cron' },
          },
        ],
      },
    );
    try {
      await eventually(
        async () => {
          const [d] = await t.db.select().from(domains).where(eq(domains.id, domain.id));
          return d!.nextCheckAt < later;
        },
        5000,
        'the scheduled job to run',
      );
      await eventually(async () => (await runtime.counts()).programs!.completed >= 2, 5000, 'a second firing');
    } finally {
      await runtime.close();
      await t.close();
    }
  });
});

describe('prune-outbox', () => {
  it('removes delivered rows older than the cut-off and never undelivered ones', async () => {
    const t = await buildTestApp();
    try {
      const now = new Date('2026-06-01T00:00:00Z');
      const old = new Date('2026-05-01T00:00:00Z');
      const recent = new Date('2026-05-30T00:00:00Z');
      const base = { queue: 'programs', jobName: 'mark-domains-due', payload: {} };
      await t.db.insert(outbox).values([
        { ...base, jobId: 'old-delivered', createdAt: old, dispatchedAt: old },
        { ...base, jobId: 'recent-delivered', createdAt: recent, dispatchedAt: recent },
        { ...base, jobId: 'old-pending', createdAt: old },
      ]);
      const result = await pruneOutbox(
        { olderThanDays: 7 },
        { jobId: 'x', attemptsMade: 0, deps: { db: t.db, now: () => now, log, dns, enqueue: async () => {} } },
      );
      expect(result).toEqual({ removed: 1 });
      expect((await t.db.select().from(outbox)).map((r) => r.jobId).sort()).toEqual(['old-pending', 'recent-delivered']);
    } finally {
      await t.close();
    }
  });
});
