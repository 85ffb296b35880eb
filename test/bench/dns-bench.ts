import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { rowsOf, type Db } from '../../db/client.ts';
import { createBullRuntime, startBullWorkers } from '../../jobs/bullmq.ts';
import { forEachConcurrently } from '../../src/lib/batches.ts';
import { evaluateDomain } from '../../src/dns/evaluate-domain.ts';
import { createCachedLookup, createResolver, type DnsLookup } from '../../src/dns/resolver.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { BENCH_PROGRAM_ID } from './bench-data.ts';
import { benchDatabase, withPeakRss } from './bench-database.ts';
import { cpuByGroup } from './cpu-time.ts';
import { benchDomain, benchIds } from './bench-zone.ts';

const CONCURRENCY = 64;
/** Check jobs (batches of 50 domains, 16 checks in flight each) run at once by the workers. */
const JOB_CONCURRENCY = Number(process.env.BENCH_JOB_CONCURRENCY ?? 8);

async function serverQueries(dns: DnsLookup): Promise<number> {
  const answer = await dns.query('TXT', 'queries.stats.invalid');
  return answer.status === 'ok' ? Number(answer.records[0]!.join('')) : NaN;
}

/** Seeds one program of n customers with 2 domains each, named as in the bench zone, all due now. */
async function seedSweep(db: Db, n: number) {
  await db.execute(sql`
    INSERT INTO programs (id, name, legacy_service, successor_service, shutdown_at, reminder_offsets_days, legacy_spf_includes, legacy_mx_host_suffixes, successor_spf_includes, successor_mx_host_suffixes)
    VALUES (${BENCH_PROGRAM_ID}, 'bench', 'legacy', 'successor', (now() + interval '400 days')::date, '{-30}',
      ${`{${benchIds.legacySpfIncludes}}`}, ${`{${benchIds.legacyMxSuffixes}}`}, ${`{${benchIds.successorSpfIncludes}}`}, ${`{${benchIds.successorMxSuffixes}}`})`);
  await db.execute(
    sql`INSERT INTO sales_owners (id, name, email, department) VALUES ('00000000-0000-4000-9000-000000000001', 'Owner', 'owner@example.co.jp', 'Dept')`,
  );
  await db.execute(sql`
    INSERT INTO customers (id, program_id, external_ref, name, sales_owner_id, status)
    SELECT ('00000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid, ${BENCH_PROGRAM_ID}, 'LEG-' || i, 'Customer ' || i, '00000000-0000-4000-9000-000000000001', 'contacted'
    FROM generate_series(1, ${n}) i`);
  await db.execute(sql`
    INSERT INTO domains (program_id, customer_id, name, display_name, next_check_at)
    SELECT ${BENCH_PROGRAM_ID}, ('00000000-0000-4000-a000-' || lpad((1 + k / 2)::text, 12, '0'))::uuid, 'd' || k || '.bench.example.jp', 'd' || k || '.bench.example.jp', now() - interval '1 minute'
    FROM generate_series(0, ${2 * n - 1}) k`);
  // As an import of this size does (import-service.ts): statistics at once, not at autovacuum's next round.
  await db.execute(sql`ANALYZE customers, domains, sales_owners`);
}

/** pyspf (Debian python3-spf, dnspython) checking SPF and MX of the domains one after another. */
async function pyspfPeer(server: string, names: string[]): Promise<{ skipped: string } | { rate: number; results: string }> {
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import spf, dns.resolver'], { stdio: 'ignore' });
  if (probe.status !== 0) return { skipped: 'python3-spf is not installed (apt-get install python3-spf)' };
  const [host, port] = server.split(':');
  const script = `
import sys, time, spf, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = ['${host}']; r.port = ${port}; r.lifetime = 5
dns.resolver.default_resolver = r
names = sys.stdin.read().split()
start = time.perf_counter()
results = {}
for d in names:
    res = spf.check2(i='192.0.2.1', s='postmaster@' + d, h=d)[0]
    results[res] = results.get(res, 0) + 1
    try:
        r.resolve(d, 'MX')
    except Exception:
        pass
print(len(names) / (time.perf_counter() - start), results)
`;
  const run = spawnSync(python, ['-c', script], { input: names.join('\n'), encoding: 'utf8', maxBuffer: 1 << 20 });
  if (run.status !== 0) throw new Error(`pyspf failed: ${run.stderr}`);
  const out = run.stdout.trim();
  const space = out.indexOf(' ');
  return { rate: Number(out.slice(0, space)), results: out.slice(space + 1) };
}

/**
 * `npm run bench -- dns --customers N`: 2N domains checked end to end: sweeps claim the due domains
 * and fan out BullMQ jobs of 50 domains, workers (8 jobs at once) check them against a loopback
 * DNS server and persist the verdicts. Beside it: the raw query rate the same resolver reaches against
 * the same server (the limit), and pyspf checking SPF and MX of the same domains one after another
 * (the peer).
 */
export async function dnsBenchmark(n: number): Promise<Record<string, string | number>[]> {
  const domainCount = 2 * n;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'dns-server-process.ts'), String(domainCount)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const database = await benchDatabase();
  const prefix = `mdt-bench-${randomBytes(4).toString('hex')}`;
  const bull = createBullRuntime({ redisUrl: TEST_REDIS_URL, prefix }, () => {});
  let workers: Awaited<ReturnType<typeof startBullWorkers>> | undefined;
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const server = `127.0.0.1:${line.toString().trim()}`;
    const resolver = () => createResolver({ servers: [server], timeoutMs: 2000, tries: 2 });

    // The limit: distinct questions as fast as this resolver gets answers, no cache.
    const raw = resolver();
    const rawCount = Math.max(2000, Math.min(domainCount, 20_000));
    const names = Array.from({ length: rawCount }, (_, i) => benchDomain(i % domainCount));
    const rawStart = process.hrtime.bigint();
    let rawErrors = 0;
    await forEachConcurrently(
      names.map((name, i) => [name, i % 2 === 0 ? 'TXT' : 'MX'] as const),
      CONCURRENCY,
      async ([name, type]) => {
        if ((await raw.query(type, name)).status === 'error') rawErrors++;
      },
    );
    const rawRate = rawCount / (Number(process.hrtime.bigint() - rawStart) / 1e9);

    // For reference, the engine alone: the same checks of the first rawCount domains, 64 at a time
    // with one cache, nothing persisted and no queue (what persistence and BullMQ add is the rest).
    const counter = resolver();
    const engineQueriesBefore = await serverQueries(counter);
    const engineStart = process.hrtime.bigint();
    const engineDns = createCachedLookup(resolver(), { ttlMs: 60_000 });
    await forEachConcurrently(names, CONCURRENCY, async (name) => {
      const check = await evaluateDomain(name, benchIds, engineDns);
      if (check.verdict === 'unknown') throw new Error(`the engine could not check ${name}`);
    });
    const engineSeconds = Number(process.hrtime.bigint() - engineStart) / 1e9;
    const engineQueryRate = ((await serverQueries(counter)) - engineQueriesBefore - 1) / engineSeconds;

    // The sweep, end to end: BullMQ jobs, workers, verdicts and evidence written to PostgreSQL.
    await seedSweep(database.db, n);
    const before = await serverQueries(counter);
    const log = pino({ level: 'warn' });
    workers = await startBullWorkers(
      { redisUrl: TEST_REDIS_URL, prefix, concurrency: JOB_CONCURRENCY, schedules: [] },
      { db: database.db, now: () => new Date(), log, dns: createCachedLookup(resolver(), { ttlMs: 60_000 }) },
      bull,
    );
    /** One sweep over every domain: due now, claimed by sweeps of 100k, one job per domain. */
    const sweepAll = async (round: string) => {
      const started = new Date();
      await database.db.execute(sql`UPDATE domains SET next_check_at = ${new Date(started.getTime() - 60_000)}`);
      return withPeakRss(async () => {
        for (let k = 0; k * 100_000 < domainCount; k++)
          await bull.enqueue('probes', 'sweep-domains', { limit: 100_000, programId: BENCH_PROGRAM_ID }, `bench-${round}-${k}`);
        // Done when the probes queue is idle (Redis, cheap) and then every domain is checked (one
        // count: polling the table itself cost PostgreSQL a fifth of a core at 200k domains).
        for (;;) {
          await new Promise((r) => setTimeout(r, 100));
          const counts = await bull.queues.probes.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
          if (Object.values(counts).some((c) => c > 0)) continue;
          const [{ left }] = rowsOf<{ left: number }>(
            await database.db.execute(sql`SELECT count(*)::int AS left FROM domains WHERE last_checked_at IS NULL OR last_checked_at < ${started}`),
          ) as [{ left: number }];
          if (left === 0) break;
        }
      });
    };
    // Where the CPU goes, by process: the workers run in this one.
    const group = (pid: number, comm: string) =>
      pid === process.pid ? 'worker' : pid === child.pid ? 'dnsServer' : comm === 'postgres' ? 'postgres' : comm.startsWith('redis') ? 'redis' : undefined;
    const { value: sweep, seconds: cpu } = await cpuByGroup(group, () => sweepAll('first'));
    const sweepQueries = (await serverQueries(counter)) - before - 1;
    const facts = rowsOf<{ verdict: string | null; n: number; p50: number; p99: number; errors: number }>(
      await database.db.execute(sql`
        SELECT d.latest_verdict AS verdict, count(*)::int AS n,
          (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) FROM dns_checks)::float AS p50,
          (SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY duration_ms) FROM dns_checks)::float AS p99,
          (SELECT count(*) FROM dns_checks WHERE outcome = 'error')::int AS errors
        FROM domains d GROUP BY 1`),
    );
    const verdicts = Object.fromEntries(facts.map((f) => [f.verdict ?? 'none', f.n]));
    if (facts[0]!.errors > 0 || verdicts.unknown)
      throw new Error(`the sweep had errors or unknown verdicts: ${JSON.stringify({ verdicts, errors: facts[0]!.errors })}`);
    const sweepQueryRate = sweepQueries / sweep.seconds;

    // The steady state: the same domains re-checked, nothing changed (the daily and hourly re-checks).
    const recheck = await sweepAll('recheck');

    // Every fourth domain has the same shape: a prime stride samples all four shapes alike.
    const sample = Array.from({ length: Math.min(domainCount, 2000) }, (_, i) => benchDomain((i * 7919) % domainCount));
    const peer = await pyspfPeer(server, sample);
    const domainsPerSecond = Math.round(domainCount / sweep.seconds);
    const cpuMsPerDomain = Object.fromEntries(
      Object.entries({ ...cpu, total: Object.values(cpu).reduce((a, b) => a + b, 0) }).map(([k, v]) => [k, (1000 * v) / domainCount]),
    );
    return [
      {
        benchmark: 'dns',
        measure: `raw resolver query rate (limit), ${rawCount} queries`,
        value: Math.round(rawRate),
        unit: 'queries/s',
        target: 'the limit',
        errors: rawErrors,
      },
      {
        benchmark: 'dns',
        measure: `first sweep end to end (BullMQ, every verdict new), ${domainCount} domains`,
        value: domainsPerSecond,
        unit: 'domains/s',
        target: '>= 1000 domains/s',
        seconds: Number(sweep.seconds.toFixed(1)),
        peakRssMiB: sweep.peakRssMiB,
        p50ms: facts[0]!.p50,
        p99ms: facts[0]!.p99,
      },
      {
        benchmark: 'dns',
        measure: `re-check sweep, nothing changed, ${domainCount} domains`,
        value: Math.round(domainCount / recheck.seconds),
        unit: 'domains/s',
        target: '>= 1000 domains/s',
        seconds: Number(recheck.seconds.toFixed(1)),
        peakRssMiB: recheck.peakRssMiB,
      },
      {
        benchmark: 'dns',
        measure: `the DNS engine alone (no persistence, no queue), ${rawCount} domains`,
        value: Math.round(rawCount / engineSeconds),
        unit: 'domains/s',
        target: 'reference',
        percentOfLimit: Math.round((100 * engineQueryRate) / rawRate),
      },
      {
        benchmark: 'dns',
        measure: 'CPU per domain in the first sweep, by process (ms)',
        value: Number((cpuMsPerDomain.total ?? 0).toFixed(2)),
        unit: 'ms/domain',
        target: 'where the time goes',
        ...Object.fromEntries(['worker', 'postgres', 'dnsServer', 'redis', 'other'].map((k) => [`${k}Ms`, Number((cpuMsPerDomain[k] ?? 0).toFixed(2))])),
        coresFor50PercentOfLimit: Number(((0.5 * rawRate * (domainCount / sweepQueries) * (cpuMsPerDomain.total ?? 0)) / 1000).toFixed(1)),
        coresHere: os.availableParallelism(),
      },
      {
        benchmark: 'dns',
        measure: 'sweep query rate at the server',
        value: Math.round(sweepQueryRate),
        unit: 'queries/s',
        target: '>= 50% of the limit',
        percentOfLimit: Math.round((100 * sweepQueryRate) / rawRate),
        queriesPerDomain: Number((sweepQueries / domainCount).toFixed(2)),
      },
      'skipped' in peer
        ? { benchmark: 'dns', measure: 'pyspf peer (SPF + MX, sequential)', value: 'skipped', unit: '', target: 'the peer', note: peer.skipped }
        : {
            benchmark: 'dns',
            measure: `pyspf peer (SPF + MX, sequential), ${sample.length} domains`,
            value: Math.round(peer.rate),
            unit: 'domains/s',
            target: 'the peer',
            oursPerPeer: Number((domainsPerSecond / peer.rate).toFixed(1)),
            results: peer.results,
          },
    ];
  } finally {
    await workers?.close();
    for (const q of Object.values(bull.queues)) await q.obliterate({ force: true }).catch(() => {});
    await bull.close();
    child.kill('SIGTERM');
    await database.drop();
  }
}
