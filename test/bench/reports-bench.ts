import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { InlineJobRuntime } from '../../jobs/inline.ts';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createResolver } from '../../src/dns/resolver.ts';
import { createToken } from '../../src/tokens/token-service.ts';
import { benchDatabase, withPeakRss } from './bench-database.ts';

/**
 * `npm run bench -- reports --customers N`: N customers with 2 domains each, 500 owners, a realistic
 * spread of statuses and verdicts and history, generated in SQL; then readiness, the blast radius
 * and the customers CSV export through the real HTTP stack.
 */
export async function reportsBenchmark(n: number): Promise<Record<string, string | number>[]> {
  const database = await benchDatabase();
  const { db } = database;
  try {
    await db.execute(sql`
      INSERT INTO programs (id, name, legacy_service, successor_service, shutdown_at, spf_record_deletion_at, legacy_spf_includes, reminder_offsets_days, created_at)
      VALUES ('00000000-0000-4000-8000-000000000001', 'bench', 'legacy', 'successor', (now() + interval '40 days')::date, (now() + interval '100 days')::date, '{spf.po.2iij.net}', '{-30}', now() - interval '120 days')`);
    await db.execute(sql`
      INSERT INTO sales_owners (id, name, email, department)
      SELECT ('00000000-0000-4000-9000-' || lpad(i::text, 12, '0'))::uuid, 'Owner ' || i, 'owner' || i || '@example.co.jp', 'Dept ' || (i % 12)
      FROM generate_series(1, 500) i`);
    await db.execute(sql`
      INSERT INTO customers (id, program_id, external_ref, name, sales_owner_id, status, planned_migration_at, created_at, updated_at)
      SELECT ('00000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid, '00000000-0000-4000-8000-000000000001', 'LEG-' || i, '株式会社テスト' || i,
        ('00000000-0000-4000-9000-' || lpad((1 + i % 500)::text, 12, '0'))::uuid,
        (ARRAY['not_contacted','contacted','planned','migrating','migrated','completed','declined'])[1 + i % 7],
        CASE WHEN i % 3 = 0 THEN (now() + ((i % 60) - 20) * interval '1 day')::date END,
        now() - interval '120 days', now()
      FROM generate_series(1, ${n}) i`);
    await db.execute(sql`
      INSERT INTO status_events (customer_id, from_status, to_status, actor, at)
      SELECT id, 'contacted', status, 'bench', now() - ((abs(hashtext(id::text)) % 100) * interval '1 day')
      FROM customers WHERE status IN ('migrated', 'completed', 'declined')`);
    await db.execute(sql`
      INSERT INTO domains (program_id, customer_id, name, display_name, latest_verdict, latest_mx_state, breaks_at_deletion, dmarc_policy, last_determined_at, created_at)
      SELECT c.program_id, c.id, 'd' || k || '-' || lower(c.external_ref) || '.example.jp', 'd' || k || '-' || lower(c.external_ref) || '.example.jp',
        v.verdict, v.mx, v.verdict IN ('needs_spf_cleanup', 'needs_mx_and_spf'), (ARRAY['reject','quarantine','none',NULL])[1 + abs(hashtext(c.id::text)) % 4],
        now() - ((abs(hashtext(c.id::text || k)) % 72) * interval '1 hour'), now() - interval '120 days'
      FROM customers c CROSS JOIN generate_series(1, 2) k
      CROSS JOIN LATERAL (SELECT CASE WHEN c.status IN ('migrated', 'completed') THEN 'clean' ELSE (ARRAY['clean','needs_spf_cleanup','needs_mx_and_spf','unknown'])[1 + abs(hashtext(c.id::text || k)) % 4] END AS verdict,
                                 CASE WHEN c.status IN ('migrated', 'completed') THEN 'successor' ELSE (ARRAY['legacy','successor','mixed','other'])[1 + abs(hashtext(c.id::text || k || 'mx')) % 4] END AS mx) v`);
    await db.execute(sql`
      INSERT INTO dns_checks (domain_id, checked_at, outcome, verdict, result, duration_ms, resolver, verdict_changed)
      SELECT id, now() - ((abs(hashtext(id::text)) % 100) * interval '1 day'), 'determined', 'clean', '{}', 1, 'bench', true FROM domains WHERE latest_verdict = 'clean'`);
    await db.execute(sql`ANALYZE`);

    const log = pino({ level: 'silent' });
    const jobs = new InlineJobRuntime({ db, now: () => new Date(), log, dns: createResolver() }, { concurrency: 1, schedules: [] });
    const app = await buildApp(loadConfig({}), { database, jobs, logger: log });
    await app.ready();
    const { token } = await createToken(db, { name: 'bench', role: 'admin' }, { name: 'bench' });
    const headers = { authorization: `Bearer ${token}` };
    const program = '00000000-0000-4000-8000-000000000001';
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
    const baseline = process.memoryUsage.rss();
    const exported = await withPeakRss(() => timeRequest(`/v1/customers.csv?programId=${program}`, 1));
    await app.close();
    await jobs.close();
    return [
      { benchmark: 'reports', measure: `readiness, ${n} customers / ${2 * n} domains (median of 5)`, value: Math.round(ready.median), unit: 'ms', target: '< 500 ms' },
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
