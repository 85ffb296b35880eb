import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createToken } from '../../src/tokens/token-service.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { freePort, root, startProcess, waitForHttp } from '../helpers/processes.ts';
import { BENCH_PROGRAM_ID, seedReportsData } from './bench-data.ts';
import { benchDatabase } from './bench-database.ts';
import { runQueueWait } from './cpu-time.ts';

const CONNECTIONS = 32;
const SECONDS = 8;
type Result = Record<string, string | number>;

/** The seeded customer ids, 1 to N (bench-data.ts), and the statuses they start in. */
const customerId = (i: number) => `00000000-0000-4000-a000-${String(i).padStart(12, '0')}`;
const seededStatus = (i: number) => ['not_contacted', 'contacted', 'planned', 'migrating', 'migrated', 'completed', 'declined'][i % 7]!;

/** Peak resident set size of a process, sampled from /proc while `fn` runs. */
async function peakRss<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; peakMiB: number }> {
  let peak = 0;
  const sample = () => {
    const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    peak = Math.max(peak, Number(kb ?? 0) / 1024);
  };
  const timer = setInterval(sample, 100);
  try {
    const value = await fn();
    sample();
    return { value, peakMiB: Math.round(peak) };
  } finally {
    clearInterval(timer);
  }
}

/** The items in random order (Fisher–Yates). */
function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** One request of a benchmark: each call of a request factory gives the next. */
interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/**
 * Half load, open loop: requests leave at an even pace (every millisecond, those due by then) over
 * up to 32 keep-alive connections, and each latency counts from the moment its request left, so
 * queueing anywhere after that is in it (a stall of the sender itself is not: its requests leave
 * late). autocannon's own rate limit is not used: each connection sends its quota for the second
 * back to back and then waits for the next second, so its "half load" is a burst at full load every
 * second.
 */
async function paced(base: string, next: () => RequestSpec, rate: number, seconds: number) {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const latencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let failed = 0;
  let sent = 0;
  const send = () => {
    const spec = next();
    const due = performance.now();
    const done = new Promise<void>((resolve) => {
      const req = http.request({ host: url.hostname, port: url.port, method: spec.method, path: spec.path, headers: spec.headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode! >= 300) failed++;
          latencies.push(performance.now() - due);
          resolve();
        });
      });
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(spec.body);
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = Math.min(performance.now() - start, seconds * 1000);
      for (; sent < Math.floor((elapsed * rate) / 1000); sent++) send();
      if (elapsed >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await Promise.all(inFlight);
  agent.destroy();
  return { rate: Math.round(latencies.length / seconds), ...percentiles(latencies), failed };
}

/**
 * The API's own view of a paced run: from its /metrics, the share of `method` requests to `route`
 * that took over 10 and over 25 ms inside the process (its latency histogram, from request to
 * response) and the event loop's p99 and worst delay (prom-client resets those at every scrape);
 * from the kernel, how long its main thread waited for a core. Beside the client's p99, it says
 * whether a slow request was slow inside the API, and whether the API was running meanwhile.
 */
async function serverView<T>(base: string, api: { pid: number; method: string; route: string }, fn: () => Promise<T>) {
  const { pid, method, route } = api;
  const scrape = async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const buckets = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line.startsWith('http_request_duration_seconds_bucket{') || !line.includes(`route="${route}"`) || !line.includes(`method="${method}"`)) continue;
      const le = /le="([^"]+)"/.exec(line)![1]!;
      buckets.set(le, (buckets.get(le) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { buckets, lagP99: gauge('nodejs_eventloop_lag_p99_seconds'), lagMax: gauge('nodejs_eventloop_lag_max_seconds') };
  };
  const before = await scrape();
  const { value, runQueuePercent, longestStallMs } = await runQueueWait(pid, fn);
  const after = await scrape();
  const count = (le: string) => (after.buckets.get(le) ?? 0) - (before.buckets.get(le) ?? 0);
  const over = (le: string) => Number(((100 * (count('+Inf') - count(le))) / count('+Inf')).toFixed(2));
  // The event loop delay is sampled every 10 ms, which the figures include.
  return {
    value,
    serverOver10msPercent: over('0.01'),
    serverOver25msPercent: over('0.025'),
    eventLoopDelayP99ms: Math.round(after.lagP99 * 1000),
    eventLoopDelayMaxMs: Math.round(after.lagMax * 1000),
    apiRunQueuePercent: runQueuePercent,
    apiLongestStallMs: longestStallMs,
  };
}

/**
 * Saturation (32 connections as fast as answers come, autocannon), then, for a `route` of the API,
 * half that rate, paced: requests/s, p50 and p99. Not the half load of hello-world: its rate is
 * beyond what the pacer can send.
 */
async function saturateThenHalf(base: string, next: () => RequestSpec, api?: { pid: number; route: string }) {
  const sat = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [{ setupRequest: (req) => ({ ...req, ...next() }) }],
  });
  const rate = Math.max(1, Math.round(sat.requests.average / 2));
  // The half load of an API route, with the API's own view of it (hello-world has no /metrics and no half load).
  await new Promise((resolve) => setTimeout(resolve, 1000)); // autocannon's last requests drain
  const half = api ? await serverView(base, { ...api, method: next().method }, () => paced(base, next, rate, SECONDS)) : undefined;
  const { value: slow, ...server } = half ?? { value: undefined };
  const bad = sat.non2xx + sat.errors + sat.timeouts + (slow?.failed ?? 0);
  return {
    rate: Math.round(sat.requests.average),
    p50: sat.latency.p50,
    p99: sat.latency.p99,
    halfRate: slow?.rate ?? '—',
    halfP50: slow?.p50 ?? '—',
    halfP99: slow?.p99 ?? '—',
    bad,
    server,
  };
}

/**
 * pgbench running `script` with 32 clients for the benchmark's duration: transactions/s; at a fixed
 * `rate` (open loop, as the paced half load), also the p50 and p99 latency counted from when each
 * transaction was due (its time plus its schedule lag, from pgbench's per-transaction log).
 */
async function pgbench(url: string, name: string, script: string, mode: 'simple' | 'prepared', rate?: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-pgbench-'));
  const file = path.join(dir, `${name}.sql`);
  fs.writeFileSync(file, script);
  const paced = rate ? ['-R', String(rate), '-l', `--log-prefix=${path.join(dir, 'log')}`] : [];
  const child = spawn('pgbench', ['-n', '-M', mode, '-c', String(CONNECTIONS), '-j', '2', '-T', String(SECONDS), ...paced, '-f', file, url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const [code] = (await once(child, 'exit')) as [number];
  const tps = /tps = ([\d.]+)/.exec(out)?.[1];
  if (code !== 0 || !tps) throw new Error(`pgbench failed (${code}): ${out}`);
  // Each log line: client, transaction, time (µs), script, end (epoch s, µs), schedule lag (µs).
  // The first second is left out: every client starts a new backend, whose first transactions load
  // its catalog caches (about 300 ms each here, and the schedule lags behind them).
  const logged = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('log.'))
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n'))
    .filter((line) => line !== '')
    .map((line) => line.split(' ').map(Number))
    .map((f) => ({ end: f[4]! + f[5]! / 1e6, ms: (f[2]! + (f[6] ?? 0)) / 1000 }));
  const start = logged.reduce((min, t) => Math.min(min, t.end), Infinity);
  const latencies = logged.filter((t) => t.end > start + 1).map((t) => t.ms);
  fs.rmSync(dir, { recursive: true, force: true });
  const { p50, p99 } = percentiles(latencies);
  return { tps: Number(tps), p50, p99 };
}

/** p50 and p99 of latencies in ms, rounded to whole ms. */
function percentiles(latencies: number[]) {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN);
  return { p50: at(0.5), p99: at(0.99) };
}

const pgbenchId = `('00000000-0000-4000-a000-' || lpad(:i::text, 12, '0'))::uuid`;

/** The SQL of one transition (token lookup; the customer locked with its domains; update, audit and event in one statement). */
const transitionSql = (n: number, tokenHash: string) => `\\set i random(1, ${n})
BEGIN;
SELECT * FROM api_tokens WHERE token_hash = '${tokenHash}';
SELECT * FROM customers c LEFT JOIN domains d ON d.customer_id = c.id WHERE c.id = ${pgbenchId} ORDER BY d.name FOR UPDATE OF c;
WITH audit AS (INSERT INTO audit_log (at, actor, action, entity_type, entity_id, before, after) VALUES (now(), 'bench', 'customer.transition', 'customer', :i, '{"status":"contacted"}', '{"status":"on_hold"}') RETURNING id),
  event AS (INSERT INTO status_events (customer_id, from_status, to_status, actor, at) VALUES (${pgbenchId}, 'contacted', 'on_hold', 'bench', now()) RETURNING id)
UPDATE customers SET status = 'on_hold', status_before_hold = 'contacted', version = version + 1, updated_at = now() WHERE id = ${pgbenchId} RETURNING *;
COMMIT;
`;

/** The SQL of GET /v1/customers/{id} for an admin: the token lookup and the customer with its domains. */
const getCustomerSql = (n: number, tokenHash: string) => `\\set i random(1, ${n})
SELECT * FROM api_tokens WHERE token_hash = '${tokenHash}';
SELECT * FROM customers c LEFT JOIN domains d ON d.customer_id = c.id WHERE c.id = ${pgbenchId} ORDER BY d.name;
`;

/**
 * `npm run bench -- api --customers N`: the API in its own process (PostgreSQL, `--api-only`, no
 * rate limits) under autocannon: a customer by id, a filtered page, a transition; beside them a
 * Fastify hello-world process and pgbench running a transition's SQL on the same database (the limits).
 */
export async function apiBenchmark(n: number): Promise<Result[]> {
  const database = await benchDatabase();
  const prefix = `mdt-bench-${randomBytes(4).toString('hex')}`;
  let api: ReturnType<typeof startProcess> | undefined;
  const hello = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'hello-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await seedReportsData(database.db, n);
    const { token, row } = await createToken(database.db, { name: 'bench', role: 'admin' }, { name: 'bench' });
    const port = await freePort();
    // The API as `npm run api` runs it: built JavaScript.
    execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
    api = startProcess('dist/src/server.js', ['--api-only'], {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: String(port),
      RATE_LIMIT_PER_TOKEN: '0',
      RATE_LIMIT_PER_IP: '0',
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/healthz`, api);
    const pid = api.child.pid!;
    const [line] = (await once(hello.stdout!, 'data')) as [Buffer];
    const helloUrl = `http://127.0.0.1:${line.toString().trim()}/`;
    const headers = { authorization: `Bearer ${token}` };
    const random = () => 1 + Math.floor(Math.random() * n);

    await autocannon({ url: helloUrl, connections: CONNECTIONS, duration: 2 });
    const helloRequest = (): RequestSpec => ({ method: 'GET', path: '/', headers: {} });
    const helloWorld = await saturateThenHalf(helloUrl, helloRequest);
    const getOne = (): RequestSpec => ({ method: 'GET', path: `/v1/customers/${customerId(random())}`, headers });
    await autocannon({ url: base, connections: CONNECTIONS, duration: 2, requests: [{ setupRequest: (req) => ({ ...req, ...getOne() }) }] });
    const { value: get, peakMiB: getRss } = await peakRss(pid, () => saturateThenHalf(base, getOne, { pid, route: '/v1/customers/:id' }));
    const { value: list, peakMiB: listRss } = await peakRss(pid, () =>
      saturateThenHalf(
        base,
        () => ({ method: 'GET', path: `/v1/customers?programId=${BENCH_PROGRAM_ID}&status=contacted&department=Dept%203&sort=name&limit=50`, headers }),
        { pid, route: '/v1/customers' },
      ),
    );

    // Each transition moves a customer not yet final to on_hold, or back from it, with its ETag:
    // pass p over the eligible customers sends version p + 1, so every request is a legal move.
    // In random order, as pgbench picks its customers: in id order, neighbouring rows share pages.
    const eligible = shuffle(Array.from({ length: n }, (_, i) => i + 1).filter((i) => i % 7 < 4));
    let k = 0;
    const transition = (): RequestSpec => {
      const i = eligible[k % eligible.length]!;
      const pass = Math.floor(k++ / eligible.length);
      return {
        method: 'POST',
        path: `/v1/customers/${customerId(i)}/transitions`,
        headers: { ...headers, 'content-type': 'application/json', 'if-match': `"${pass + 1}"` },
        body: JSON.stringify({ to: pass % 2 === 0 ? 'on_hold' : seededStatus(i) }),
      };
    };
    const { value: post, peakMiB: postRss } = await peakRss(pid, () => saturateThenHalf(base, transition, { pid, route: '/v1/customers/:id/transitions' }));
    const pgbenchTransition = (await pgbench(database.url, 'transition', transitionSql(n, row.tokenHash), 'simple')).tps;
    // Not limits of the issue's: what the database alone does for the GET's two statements, and
    // the tails at the GET's half-load rate of the same pacer against hello-world and of pgbench.
    const pgbenchGet = (await pgbench(database.url, 'get-customer', getCustomerSql(n, row.tokenHash), 'prepared')).tps;
    const halfRate = Number(get.halfRate);
    const helloAtHalf = await paced(helloUrl, helloRequest, halfRate, SECONDS);
    const pgbenchGetAtHalf = await pgbench(database.url, 'get-customer', getCustomerSql(n, row.tokenHash), 'prepared', halfRate);

    const row_ = (measure: string, r: Awaited<ReturnType<typeof saturateThenHalf>>, target: string, extra: Result = {}) => ({
      benchmark: 'api',
      measure,
      value: r.rate,
      unit: 'requests/s',
      target,
      p50ms: r.p50,
      p99ms: r.p99,
      halfLoadRate: r.halfRate,
      halfLoadP50ms: r.halfP50,
      halfLoadP99ms: r.halfP99,
      failed: r.bad,
      ...r.server,
      ...extra,
    });
    return [
      row_('hello-world Fastify route (limit)', helloWorld, 'the limit'),
      {
        benchmark: 'api',
        measure: 'pgbench, the SQL of GET /v1/customers/{id} (prepared; the database alone)',
        value: Math.round(pgbenchGet),
        unit: 'transactions/s',
        target: 'reference',
        percentOfLimit: Math.round((100 * pgbenchGet) / helloWorld.rate),
      },
      {
        benchmark: 'api',
        measure: "hello-world at GET's half-load rate, paced (reference for the tail)",
        value: helloAtHalf.rate,
        unit: 'requests/s',
        target: 'reference',
        halfLoadP50ms: helloAtHalf.p50,
        halfLoadP99ms: helloAtHalf.p99,
      },
      {
        benchmark: 'api',
        measure: "pgbench, the GET's SQL at its half-load rate (reference for the tail)",
        value: Math.round(pgbenchGetAtHalf.tps),
        unit: 'transactions/s',
        target: 'reference',
        halfLoadP50ms: pgbenchGetAtHalf.p50,
        halfLoadP99ms: pgbenchGetAtHalf.p99,
      },
      row_('GET /v1/customers/{id}', get, '>= 25% of hello-world, p99 < 20 ms at half load', {
        percentOfLimit: Math.round((100 * get.rate) / helloWorld.rate),
        percentOfDatabaseAlone: Math.round((100 * get.rate) / pgbenchGet),
        apiPeakRssMiB: getRss,
      }),
      row_('GET /v1/customers?… (filtered page of 50)', list, '', { apiPeakRssMiB: listRss }),
      {
        benchmark: 'api',
        measure: 'pgbench, the SQL of a transition (limit)',
        value: Math.round(pgbenchTransition),
        unit: 'transactions/s',
        target: 'the limit',
      },
      row_('POST /v1/customers/{id}/transitions', post, '>= 40% of pgbench, p99 < 50 ms at half load', {
        percentOfLimit: Math.round((100 * post.rate) / pgbenchTransition),
        apiPeakRssMiB: postRss,
      }),
      { benchmark: 'api', measure: 'API peak RSS under load', value: Math.max(getRss, listRss, postRss), unit: 'MiB', target: '< 250 MB' },
    ];
  } finally {
    hello.kill('SIGTERM');
    await api?.stop();
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await database.drop();
  }
}
