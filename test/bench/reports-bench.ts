import { pino } from 'pino';
import { buildJobSystem } from '../../jobs/system.ts';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createResolver } from '../../src/dns/resolver.ts';
import { createToken } from '../../src/tokens/token-service.ts';
import { benchDatabase, withPeakRss } from './bench-database.ts';
import { seedReportsData, BENCH_PROGRAM_ID } from './bench-data.ts';

/**
 * `npm run bench -- reports --customers N`: readiness, the blast radius and the customers CSV export
 * through the real HTTP stack, over the data of `seedReportsData`.
 */
export async function reportsBenchmark(n: number): Promise<Record<string, string | number>[]> {
  const database = await benchDatabase();
  const { db } = database;
  try {
    await seedReportsData(db, n);

    const log = pino({ level: 'silent' });
    const config = loadConfig({});
    const jobs = await buildJobSystem(config, { db, log, dns: createResolver() }, { work: true, inline: true, schedules: [], concurrency: 1 });
    const app = await buildApp(config, { database, jobs: jobs.runtime, logger: log });
    await app.ready();
    const { token } = await createToken(db, { name: 'bench', role: 'admin' }, { name: 'bench' });
    const headers = { authorization: `Bearer ${token}` };
    const program = BENCH_PROGRAM_ID;
    const timeRequest = async (url: string, runs: number) => {
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const res = await app.inject({ method: 'GET', url, headers });
        if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        times.push(performance.now() - started);
        bytes = res.rawPayload.length;
      }
      times.sort((a, b) => a - b);
      return { median: times[Math.floor(times.length / 2)]!, bytes };
    };
    await timeRequest(`/v1/programs/${program}/readiness`, 1);
    const ready = await timeRequest(`/v1/programs/${program}/readiness`, 5);
    const blast = await timeRequest(`/v1/programs/${program}/blast-radius?limit=200`, 5);
    // The export over a real socket, the body read and dropped as it streams (app.inject would hold
    // the whole body in this process and count it as the server's memory), from a collected heap.
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    globalThis.gc?.();
    const baseline = process.memoryUsage.rss();
    const exported = await withPeakRss(async () => {
      const started = performance.now();
      const res = await fetch(`${base}/v1/customers.csv?programId=${program}`, { headers });
      if (res.status !== 200 || !res.body) throw new Error(`customers.csv: ${res.status}`);
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Uint8Array).length;
      return { median: performance.now() - started, bytes };
    });
    await app.close();
    await jobs.close();
    return [
      {
        benchmark: 'reports',
        measure: `readiness, ${n} customers / ${2 * n} domains (median of 5)`,
        value: Math.round(ready.median),
        unit: 'ms',
        target: '< 500 ms',
      },
      { benchmark: 'reports', measure: 'blast radius, first page of 200 (median of 5)', value: Math.round(blast.median), unit: 'ms', target: '' },
      {
        benchmark: 'reports',
        measure: `customers.csv, ${n} rows`,
        value: Number((exported.value.median / 1000).toFixed(2)),
        unit: 's',
        target: '< 5 s, RSS growth < 100 MB',
        rssGrowthMiB: Math.round((exported.peakRssMiB * 2 ** 20 - baseline) / 2 ** 20),
        megabytes: Number((exported.value.bytes / 1e6).toFixed(1)),
      },
    ];
  } finally {
    await database.drop();
  }
}
