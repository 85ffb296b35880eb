import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../db/client.ts';
import { auditLog, customers, dnsChecks, domains, imports } from '../db/schema/index.ts';
import { createBullRuntime } from '../jobs/bullmq.ts';
import { claimDueDomains } from '../src/probes/check-repository.ts';
import { queueImport, receiveImport } from '../src/imports/import-service.ts';
import { eventually } from './helpers/build-test-app.ts';
import { createTestDatabase } from './helpers/database.ts';
import { TestDnsServer } from './helpers/dns-server.ts';
import { TEST_REDIS_URL } from './helpers/env.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner } from './helpers/factories.ts';
import { startProcess, type Running } from './helpers/processes.ts';

const STALL_DOMAINS = 5;
const prefix = `mdt-test-${randomBytes(4).toString('hex')}`;
let created: Awaited<ReturnType<typeof createTestDatabase>>;
let database: Database;
let server: TestDnsServer;
const running: Running[] = [];
const bull = createBullRuntime({ redisUrl: TEST_REDIS_URL, prefix }, () => {});

beforeAll(async () => {
  created = await createTestDatabase();
  database = await openDatabase({ databaseUrl: created.url, dataDir: '' });
  server = await TestDnsServer.start();
  server.set('slow.example.jp', {
    records: [
      { type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net -all' },
      { type: 'MX', data: [10, 'mx1.po.2iij.net'] },
    ],
    delayMs: 2500,
  });
  server.set('spf.po.2iij.net', { records: [{ type: 'TXT', data: 'v=spf1 -all' }] });
  for (let i = 0; i < STALL_DOMAINS; i++) {
    server.set(`stall-${i}.example.jp`, { records: [{ type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net -all' }], delayMs: 2500 });
  }
});
afterAll(async () => {
  for (const r of running) await r.stop('SIGKILL');
  for (const q of Object.values(bull.queues)) await q.obliterate({ force: true });
  await bull.close();
  await server.close();
  await database.close();
  await created.drop();
});

/** A worker process killed with SIGKILL in the middle of a check: the job is retried, once. */
describe('a worker killed mid-job', () => {
  it('loses nothing and duplicates nothing', async () => {
    const program = await makeProgram(database.db, { legacySpfIncludes: ['spf.po.2iij.net'], legacyMxHostSuffixes: ['po.2iij.net'] });
    const customer = await makeCustomer(database.db, program.id, (await makeSalesOwner(database.db)).id);
    // Not due: only the job below checks it.
    const domain = await makeDomain(database.db, customer, {
      name: 'slow.example.jp',
      displayName: 'slow.example.jp',
      nextCheckAt: new Date(Date.now() + 86_400_000),
    });
    const env = {
      DATABASE_URL: created.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      DNS_SERVERS: server.address,
      DNS_TIMEOUT_MS: '5000',
      JOB_LOCK_MS: '1000',
      LOG_LEVEL: 'info',
    };
    const first = startProcess('dist/jobs/worker.js', [], env);
    running.push(first);
    await eventually(async () => first.output().includes('worker started'), 30_000, 'the first worker');
    await bull.enqueue('probes', 'probe-domain', { domainId: domain.id, trigger: 'sweep' }, 'crash-1');
    await eventually(async () => server.queries.includes('TXT slow.example.jp'), 15_000, 'the job to be mid-check');
    expect(await first.stop('SIGKILL')).toBeNull();
    expect(await database.db.$count(dnsChecks, eq(dnsChecks.domainId, domain.id))).toBe(0);

    const second = startProcess('dist/jobs/worker.js', [], env);
    running.push(second);
    await eventually(async () => (await database.db.$count(dnsChecks, eq(dnsChecks.domainId, domain.id))) === 1, 30_000, 'the retried check');
    const job = await bull.queues.probes.getJob('crash-1');
    await eventually(async () => (await job!.getState()) === 'completed', 10_000, 'the job to complete');
    // Nothing more arrives later: exactly one check, the verdict set once.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await database.db.$count(dnsChecks, eq(dnsChecks.domainId, domain.id))).toBe(1);
    const [row] = await database.db.select().from(domains).where(eq(domains.id, domain.id));
    expect(row!.latestVerdict).toBe('needs_mx_and_spf');
    expect(await second.stop()).toBe(0);
    console.log(
      `[fault] worker SIGKILL mid-job: ${JSON.stringify({ retriedBy: 'second worker', attemptsMade: (await bull.queues.probes.getJob('crash-1'))!.attemptsMade, checksStored: 1 })}`,
    );
  }, 90_000);
});

/**
 * A sweep's batch whose worker is killed again and again (the issue's attack: three SIGKILLs in about
 * 12 s): each time it runs again within 2 × JOB_LOCK_MS of the kill, not after the 10-minute lease of
 * its domains, and in the end each domain has exactly one check.
 */
describe('a sweep batch whose worker is killed three times', () => {
  it('is picked up again within 2 × JOB_LOCK_MS each time, and records each domain once', async () => {
    const lockMs = 3000;
    const program = await makeProgram(database.db, { legacySpfIncludes: ['spf.po.2iij.net'] });
    const customer = await makeCustomer(database.db, program.id, (await makeSalesOwner(database.db)).id);
    const ids: string[] = [];
    for (let i = 0; i < STALL_DOMAINS; i++) {
      ids.push((await makeDomain(database.db, customer, { name: `stall-${i}.example.jp`, displayName: `stall-${i}.example.jp`, nextCheckAt: new Date(0) })).id);
    }
    const claimedAt = new Date();
    expect((await claimDueDomains(database.db, claimedAt, 100, program.id)).map((d) => d.id).sort()).toEqual([...ids].sort());
    const env = {
      DATABASE_URL: created.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      DNS_SERVERS: server.address,
      DNS_TIMEOUT_MS: '5000',
      JOB_LOCK_MS: String(lockMs),
      LOG_LEVEL: 'info',
    };
    const attempts = () => server.queries.filter((q) => q === 'TXT stall-0.example.jp').length;
    const jobId = `stall-${claimedAt.getTime()}`;
    await bull.enqueue('probes', 'probe-domains', { domainIds: ids, trigger: 'sweep', claimedAt: claimedAt.toISOString() }, jobId);

    // Each round, a replacement worker is up before the one running the batch is killed, so the time
    // measured is the stall's detection, not a process start.
    const startWorker = async () => {
      const worker = startProcess('dist/jobs/worker.js', [], env);
      running.push(worker);
      await eventually(async () => worker.output().includes('worker started'), 30_000, 'a worker to start');
      return worker;
    };
    let current = await startWorker();
    await eventually(async () => attempts() > 0, 30_000, 'the batch to run');
    const pickups: number[] = [];
    for (let kill = 0; kill < 3; kill++) {
      const next = await startWorker();
      expect(await current.stop('SIGKILL')).toBeNull();
      const killedAt = Date.now();
      await new Promise((r) => setTimeout(r, 100)); // a query the killed worker sent is counted by now
      const before = attempts();
      expect(await database.db.$count(dnsChecks, inArray(dnsChecks.domainId, ids))).toBe(0);
      await eventually(async () => attempts() > before, 30_000, `the batch to run again (kill ${kill + 1})`);
      pickups.push(Date.now() - killedAt);
      current = next;
    }
    await eventually(async () => (await database.db.$count(dnsChecks, inArray(dnsChecks.domainId, ids))) === STALL_DOMAINS, 30_000, 'the batch to complete');
    const job = await bull.queues.probes.getJob(jobId);
    await eventually(async () => (await job!.getState()) === 'completed', 10_000, 'the job to complete');
    console.log(`[fault] batch worker SIGKILLed 3 times, JOB_LOCK_MS ${lockMs}: picked up again after ${pickups.map((ms) => `${ms} ms`).join(', ')}`);
    for (const ms of pickups) expect(ms).toBeLessThanOrEqual(2 * lockMs);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await database.db.$count(dnsChecks, inArray(dnsChecks.domainId, ids))).toBe(STALL_DOMAINS);
    const rows = await database.db.select().from(domains).where(inArray(domains.id, ids));
    for (const row of rows) expect(row).toMatchObject({ latestVerdict: 'needs_spf_cleanup', lastCheckedAt: expect.any(Date) });
    expect(await current.stop()).toBe(0);
  }, 120_000);
});

/**
 * An import's worker killed while it writes (issue 15: all-or-nothing across a crash): the rows it had
 * written in its transaction are gone with it, and the next attempt writes the whole file once.
 */
describe('an import whose worker is killed while it writes', () => {
  it('commits nothing of the cut attempt, and the retry imports every row once', async () => {
    const program = await makeProgram(database.db);
    const ROWS = 20_000;
    const csv = `external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department\n${Array.from({ length: ROWS }, (_, i) => `K-${i},Kill ${i},k${i}.example.jp,o${i % 9}@example.jp,O ${i % 9},D ${i % 9}\n`).join('')}`;
    const received = await receiveImport(
      database.db,
      program.id,
      Readable.from([csv]),
      { dryRun: false, allOrNothing: true, encoding: 'auto', maxBytes: 2 ** 30 },
      { name: 'test' },
      new Date(),
    );
    expect(received.bytesReceived).toBe(Buffer.byteLength(csv));
    await queueImport(database.db, received.id, new Date());
    await bull.enqueue('imports', 'run-import', { importId: received.id }, `import-${received.id}`);
    const state = async () => (await database.db.select().from(imports).where(eq(imports.id, received.id)))[0]!;

    const env = {
      DATABASE_URL: created.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      DNS_SERVERS: server.address,
      JOB_LOCK_MS: '2000',
      LOG_LEVEL: 'info',
    };
    const first = startProcess('dist/jobs/worker.js', [], env);
    running.push(first);
    await eventually(
      async () => {
        const s = await state();
        return s.state === 'running' && s.rowsWritten > 0 && s.rowsWritten < ROWS;
      },
      60_000,
      'the import to be writing',
    );
    expect(await first.stop('SIGKILL')).toBeNull();
    const cut = await state();
    expect(await database.db.$count(customers, eq(customers.programId, program.id))).toBe(0);

    const second = startProcess('dist/jobs/worker.js', [], env);
    running.push(second);
    const done = await eventually(
      async () => {
        const s = await state();
        return s.state === 'done' ? s : undefined;
      },
      90_000,
      'the retried import to finish',
    );
    console.log(`[fault] import worker SIGKILLed after ${cut.rowsWritten} of ${ROWS} rows written: nothing committed; the retry wrote all ${ROWS}`);
    expect(done.result).toMatchObject({ created: ROWS, written: true, errorCount: 0 });
    expect(await database.db.$count(customers, eq(customers.programId, program.id))).toBe(ROWS);
    expect(await database.db.$count(auditLog, eq(auditLog.action, 'program.import'))).toBe(1);
    expect(await second.stop()).toBe(0);
  }, 180_000);
});
