import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { checkDomain } from '../../src/dns/check-domain.ts';
import { createCachedLookup, createResolver, type DnsLookup } from '../../src/dns/resolver.ts';
import { withPeakRss } from './bench-database.ts';
import { benchDomain, benchIds } from './bench-zone.ts';

const CONCURRENCY = 64;

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function serverQueries(dns: DnsLookup): Promise<number> {
  const answer = await dns.query('TXT', 'queries.stats.invalid');
  return answer.status === 'ok' ? Number(answer.records[0]!.join('')) : NaN;
}

/**
 * `npm run bench -- dns`: N domains checked end to end against a loopback DNS server, beside the raw
 * query rate the same resolver reaches against the same server (the limit).
 */
export async function dnsBenchmark(n: number): Promise<Record<string, string | number>[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'dns-server-process.ts'), String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const server = `127.0.0.1:${line.toString().trim()}`;
    const resolver = () => createResolver({ servers: [server], timeoutMs: 2000, tries: 2 });

    // The limit: distinct questions as fast as this resolver gets answers, no cache.
    const raw = resolver();
    const rawCount = Math.max(2000, Math.min(n * 2, 20_000));
    const names = Array.from({ length: rawCount }, (_, i) => benchDomain(i % n));
    const rawStart = process.hrtime.bigint();
    let rawErrors = 0;
    await pool(names.map((name, i) => [name, i % 2 === 0 ? 'TXT' : 'MX'] as const), CONCURRENCY, async ([name, type]) => {
      if ((await raw.query(type, name)).status === 'error') rawErrors++;
    });
    const rawSeconds = Number(process.hrtime.bigint() - rawStart) / 1e9;
    const rawRate = rawCount / rawSeconds;

    // The sweep: every domain checked, one cache shared by the sweep.
    const counter = resolver();
    const before = await serverQueries(counter);
    const dns = createCachedLookup(resolver());
    const durations: number[] = [];
    const verdicts = new Map<string, number>();
    const domains = Array.from({ length: n }, (_, i) => benchDomain(i));
    const sweep = await withPeakRss(() =>
      pool(domains, CONCURRENCY, async (domain) => {
        const started = performance.now();
        const check = await checkDomain(domain, benchIds, dns);
        durations.push(performance.now() - started);
        verdicts.set(check.verdict, (verdicts.get(check.verdict) ?? 0) + 1);
      }),
    );
    const sweepQueries = (await serverQueries(counter)) - before - 1;
    durations.sort((a, b) => a - b);
    const sweepQueryRate = sweepQueries / sweep.seconds;
    const hitRate = dns.stats.hits / (dns.stats.hits + dns.stats.misses);
    if ((verdicts.get('unknown') ?? 0) > 0) throw new Error(`the sweep had unknown verdicts: ${JSON.stringify(Object.fromEntries(verdicts))}`);
    return [
      { benchmark: 'dns', measure: `raw resolver query rate (limit), ${rawCount} queries`, value: Math.round(rawRate), unit: 'queries/s', target: 'the limit', errors: rawErrors },
      { benchmark: 'dns', measure: `sweep, ${n} domains`, value: Math.round(n / sweep.seconds), unit: 'domains/s', target: '>= 1000 domains/s', seconds: Number(sweep.seconds.toFixed(2)), peakRssMiB: sweep.peakRssMiB },
      { benchmark: 'dns', measure: 'sweep query rate at the server', value: Math.round(sweepQueryRate), unit: 'queries/s', target: '>= 50% of the limit', percentOfLimit: Math.round((100 * sweepQueryRate) / rawRate), queriesPerDomain: Number((sweepQueries / n).toFixed(2)) },
      { benchmark: 'dns', measure: 'cache hit rate', value: Number((100 * hitRate).toFixed(1)), unit: '%', target: '' },
      { benchmark: 'dns', measure: 'per-domain latency p50 / p99', value: Number(percentile(durations, 50).toFixed(1)), unit: 'ms (p50)', target: '', p99: Number(percentile(durations, 99).toFixed(1)) },
    ];
  } finally {
    child.kill('SIGTERM');
  }
}
