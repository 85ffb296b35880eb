import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../db/client.ts';
import { domains } from '../db/schema/index.ts';
import { queueNames } from '../src/job-contract/catalogue.ts';
import { eventually } from './helpers/build-test-app.ts';
import { createTestDatabase } from './helpers/database.ts';
import { TEST_REDIS_URL } from './helpers/env.ts';
import { makeCustomer, makeDomain, makeSalesOwner, makeToken, programBody } from './helpers/factories.ts';
import { freePort, startProcess, waitForHttp, type Running } from './helpers/processes.ts';

const prefix = `mdt-test-${randomBytes(4).toString('hex')}`;
let created: Awaited<ReturnType<typeof createTestDatabase>>;
let database: Database;
const running: Running[] = [];

beforeAll(async () => {
  created = await createTestDatabase();
  database = await openDatabase({ databaseUrl: created.url, dataDir: '' });
});
afterAll(async () => {
  for (const r of running) await r.stop('SIGKILL');
  const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  for (const name of queueNames) {
    const queue = new Queue(name, { connection, prefix });
    await queue.obliterate({ force: true });
    await queue.close();
  }
  connection.disconnect();
  await database.close();
  await created.drop();
});

/** `npm run api` and `npm run worker` as separate processes sharing PostgreSQL and Redis. */
describe('distributed mode', () => {
  it('has a separate worker process run the jobs the API enqueued, and both stop cleanly', async () => {
    const port = await freePort();
    const env = { DATABASE_URL: created.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, PORT: String(port) };
    const api = startProcess('dist/src/server.js', ['--api-only'], env);
    const worker = startProcess('dist/jobs/worker.js', [], { ...env, LOG_LEVEL: 'info' });
    running.push(api, worker);
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, api);
    await eventually(async () => worker.output().includes('worker started') || worker.child.exitCode !== null, 30_000, 'the worker');
    expect(worker.child.exitCode).toBeNull();

    const { auth } = await makeToken(database.db, 'admin');
    const headers = { ...auth, 'content-type': 'application/json' };
    const res = await fetch(`http://127.0.0.1:${port}/v1/programs`, { method: 'POST', headers, body: JSON.stringify(programBody()) });
    const program = (await res.json()) as { id: string };
    const later = new Date(Date.now() + 86_400_000);
    const owner = await makeSalesOwner(database.db);
    const domain = await makeDomain(database.db, await makeCustomer(database.db, program.id, owner.id), { nextCheckAt: later });

    const patched = await fetch(`http://127.0.0.1:${port}/v1/programs/${program.id}`, {
      method: 'PATCH',
      headers: { ...headers, 'if-match': '"1"' },
      body: JSON.stringify({ legacy: { mxHostSuffixes: ['po.2iij.net', 'mx.po.2iij.net'] } }),
    });
    expect(patched.status).toBe(200);
    // The API runs no workers (--api-only), so only the worker process can have done this.
    await eventually(
      async () => {
        const [d] = await database.db.select().from(domains).where(eq(domains.id, domain.id));
        return d!.nextCheckAt < later;
      },
      20_000,
      'the worker process to run the job',
    );

    // The job writes the domains before BullMQ records it completed: wait for that too.
    await eventually(
      async () => {
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /jobs\{queue="programs",state="completed"\} 1/.test(metrics);
      },
      10_000,
      'the programs job to be recorded completed in /metrics',
    );

    expect(await api.stop()).toBe(0);
    expect(await worker.stop()).toBe(0);
  }, 120_000);
});
