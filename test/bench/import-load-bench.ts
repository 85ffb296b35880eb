import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { programs } from '../../db/schema/index.ts';
import { createToken } from '../../src/tokens/token-service.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { freePort, root, startProcess, waitForHttp, type Running } from '../helpers/processes.ts';
import { BENCH_PROGRAM_ID, seedReportsData } from './bench-data.ts';
import { benchDatabase } from './bench-database.ts';
import { generateCsv } from './import-bench.ts';

type Result = Record<string, string | number>;
const MiB = 2 ** 20;

/** Resident set size of a process now, from /proc, in MiB. */
const rssOf = (pid: number) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0; // the process has exited; the run reports why
  }
};

/** Samples the peak RSS of processes until stopped. */
function sampleRss(pids: number[]) {
  const peaks = pids.map(rssOf);
  const timer = setInterval(() => pids.forEach((pid, i) => (peaks[i] = Math.max(peaks[i]!, rssOf(pid)))), 100);
  return () => {
    clearInterval(timer);
    return peaks.map(Math.round);
  };
}

/**
 * Writes a generated CSV of up to `rows` rows and `maxBytes` to a file first, so that generating it
 * costs the client no CPU while it measures; its path, bytes and rows.
 */
async function writeCsv(rows: number, maxBytes = Infinity) {
  const file = path.join(os.tmpdir(), `mdt-bench-${randomBytes(4).toString('hex')}.csv`);
  const out = fs.createWriteStream(file);
  let bytes = 0;
  let lines = 0;
  for await (const chunk of generateCsv(rows)) {
    if (bytes + Buffer.byteLength(chunk) > maxBytes) break;
    bytes += Buffer.byteLength(chunk);
    lines += chunk.split('\n').length - 1;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  await new Promise((r) => out.end(r));
  return { file, bytes, rows: lines - 1 };
}

/** POSTs a CSV file, streamed from disk; the answer. */
async function postCsv(base: string, programId: string, token: string, file: string) {
  return new Promise<{ status: number; body: string; location?: string | undefined }>((resolve, reject) => {
    const req = http.request(
      `${base}/v1/programs/${programId}/imports`,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' } },
      (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode!, body, location: r.headers.location }));
      },
    );
    req.on('error', reject);
    fs.createReadStream(file).pipe(req);
  });
}

async function waitDone(base: string, location: string, token: string) {
  for (;;) {
    const res = await fetch(`${base}${location}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { state: string; result: { created: number; errorCount: number } | null; failure: string | null };
    if (body.state === 'done' || body.state === 'failed') return body;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Reads at a steady pace until `until` settles: each latency counts from when its request left; p99 by kind. */
async function pacedUntil(base: string, next: () => { kind: string; path: string }, token: string, rate: number, until: Promise<unknown>) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const latencies = new Map<string, number[]>();
  let failed = 0;
  let done = false;
  void until.finally(() => (done = true));
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  let sent = 0;
  while (!done) {
    const due = Math.floor(((performance.now() - start) * rate) / 1000);
    for (; sent < due; sent++) {
      const left = performance.now();
      const { kind, path } = next();
      const p = new Promise<void>((resolve) => {
        const req = http.get(`${base}${path}`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) failed++;
            latencies.set(kind, [...(latencies.get(kind) ?? []), performance.now() - left]);
            resolve();
          });
        });
        req.on('error', () => {
          failed++;
          resolve();
        });
      });
      inFlight.add(p);
      void p.then(() => inFlight.delete(p));
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inFlight);
  agent.destroy();
  return { failed, byKind: Object.fromEntries([...latencies].map(([kind, l]) => [kind, percentiles(l)])) };
}

function percentiles(latencies: number[]) {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN);
  return { requests: latencies.length, p50: at(0.5), p99: at(0.99), max: Math.round(latencies.at(-1) ?? NaN) };
}

/**
 * `npm run bench -- import-load --customers N`: the API (`--api-only`) and a worker in their own
 * processes, as deployed. (1) A 100,000-row import while reads of another program's N customers (a
 * customer by id, a filtered page) arrive at a steady 100 requests/s: their p99 beside the same reads
 * without the import. (2) A 200 MB file through POST …/imports: the time to its 202 (inside
 * REQUEST_TIMEOUT_MS), the job's time, and how much each process's RSS grew.
 */
export async function importLoadBenchmark(n: number): Promise<Result[]> {
  const database = await benchDatabase();
  const prefix = `mdt-bench-${randomBytes(4).toString('hex')}`;
  const running: Running[] = [];
  const files: string[] = [];
  try {
    await seedReportsData(database.db, n);
    const newProgram = async (name: string) =>
      (
        await database.db
          .insert(programs)
          .values({
            name,
            legacyService: 'legacy',
            successorService: 'successor',
            shutdownAt: '2022-09-30',
            legacySpfIncludes: ['spf.po.2iij.net'],
            reminderOffsetsDays: [-30],
          })
          .returning()
      )[0]!.id;
    const { token } = await createToken(database.db, { name: 'bench', role: 'admin' }, { name: 'bench' });
    execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
    const port = await freePort();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: String(port),
      RATE_LIMIT_PER_TOKEN: '0',
      RATE_LIMIT_PER_IP: '0',
      LOG_LEVEL: 'warn',
    };
    const api = startProcess('dist/src/server.js', ['--api-only'], env);
    running.push(api);
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/healthz`, api);
    const worker = startProcess('dist/jobs/worker.js', [], env);
    running.push(worker);
    await new Promise((r) => setTimeout(r, 2000));
    const pids = [api.child.pid!, worker.child.pid!];
    const results: Result[] = [];

    // (1) Reads during a 100k import (first: after the 200 MB import, autovacuum busies the database for minutes).
    const random = () => 1 + Math.floor(Math.random() * n);
    const customerPath = () =>
      Math.random() < 0.8
        ? { kind: 'GET /v1/customers/{id}', path: `/v1/customers/00000000-0000-4000-a000-${String(random()).padStart(12, '0')}` }
        : { kind: 'GET /v1/customers?status&sort (page of 50)', path: `/v1/customers?programId=${BENCH_PROGRAM_ID}&status=contacted&sort=name&limit=50` };
    // Settled first: the seeded tables vacuumed and analyzed (else autovacuum runs through the
    // reference window), and the API warmed up by the same reads.
    await database.db.execute(sql`VACUUM ANALYZE`);
    await pacedUntil(base, customerPath, token, 100, new Promise((r) => setTimeout(r, 5_000)));
    const quiet = await pacedUntil(base, customerPath, token, 100, new Promise((r) => setTimeout(r, 10_000)));
    const importRows = 100_000;
    const csv100k = await writeCsv(importRows);
    files.push(csv100k.file);
    const during = performance.now();
    const importDone = (async () => {
      const res = await postCsv(base, await newProgram('bench 100k'), token, csv100k.file);
      if (res.status !== 202) throw new Error(`100k import: ${res.status} ${res.body.slice(0, 300)}`);
      return waitDone(base, res.location!, token);
    })();
    const loaded = await pacedUntil(base, customerPath, token, 100, importDone);
    const imported = await importDone;
    if (imported.state !== 'done') throw new Error(`100k import: ${JSON.stringify(imported).slice(0, 300)}`);
    const seconds = ((performance.now() - during) / 1000).toFixed(1);
    for (const kind of Object.keys(loaded.byKind)) {
      const [q, l] = [quiet.byKind[kind]!, loaded.byKind[kind]!];
      results.push(
        {
          benchmark: 'import-load',
          measure: `${kind}, 100 reads/s in all, no import (${q.requests} requests)`,
          value: q.p99,
          unit: 'ms p99',
          target: 'reference',
          p50ms: q.p50,
          maxMs: q.max,
        },
        {
          benchmark: 'import-load',
          measure: `${kind}, the same during a 100,000-row import (${l.requests} requests, ${seconds} s)`,
          value: l.p99,
          unit: 'ms p99',
          target: '< 100 ms',
          p50ms: l.p50,
          maxMs: l.max,
        },
      );
    }
    if (quiet.failed + loaded.failed > 0) throw new Error(`${quiet.failed + loaded.failed} reads failed`);

    // (2) 200 MB.
    const csv200 = await writeCsv(10_000_000, 200 * MiB);
    files.push(csv200.file);
    const bigRows = csv200.rows;
    const baseline = pids.map(rssOf);
    const stop = sampleRss(pids);
    const t0 = performance.now();
    const posted = { ...(await postCsv(base, await newProgram('bench 200 MB'), token, csv200.file)), bytes: csv200.bytes };
    const accepted = (performance.now() - t0) / 1000;
    if (posted.status !== 202) throw new Error(`200 MB import: ${posted.status} ${posted.body.slice(0, 500)}`);
    const big = await waitDone(base, posted.location!, token);
    const total = (performance.now() - t0) / 1000;
    const [apiPeak, workerPeak] = stop();
    if (big.state !== 'done' || big.result!.created !== bigRows) throw new Error(`200 MB import: ${JSON.stringify(big).slice(0, 500)}`);
    results.push(
      {
        benchmark: 'import-load',
        measure: `200 MB file (${(posted.bytes / MiB).toFixed(0)} MiB, ${bigRows} rows): POST to its 202`,
        value: accepted,
        unit: 's',
        target: '< 30 s (REQUEST_TIMEOUT_MS)',
      },
      {
        benchmark: 'import-load',
        measure: '200 MB file: POST to done (the job planned and wrote every row)',
        value: total,
        unit: 's',
        target: '',
        rowsPerSecond: Math.round(bigRows / total),
      },
      {
        benchmark: 'import-load',
        measure: '200 MB file: RSS growth of the API (receiving)',
        value: Math.round(apiPeak! - baseline[0]!),
        unit: 'MiB',
        target: '< 150 MB',
        peakRssMiB: apiPeak!,
      },
      {
        benchmark: 'import-load',
        measure: '200 MB file: RSS growth of the worker (planning, writing)',
        value: Math.round(workerPeak! - baseline[1]!),
        unit: 'MiB',
        target: '< 150 MB',
        peakRssMiB: workerPeak!,
      },
    );

    return results;
  } catch (err) {
    for (const r of running)
      if (r.child.exitCode !== null || r.child.signalCode !== null)
        process.stderr.write(`a process exited (${r.child.exitCode ?? r.child.signalCode}):\n${r.output().slice(-3000)}\n`);
    throw err;
  } finally {
    for (const file of files) fs.rmSync(file, { force: true });
    for (const r of running) await r.stop();
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await database.drop();
  }
}
