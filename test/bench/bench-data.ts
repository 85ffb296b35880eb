import { sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';

export const BENCH_PROGRAM_ID = '00000000-0000-4000-8000-000000000001';

/**
 * One program of N customers with 2 domains each and 500 owners in 12 departments, generated in SQL:
 * a realistic spread of statuses, verdicts, MX states and DMARC policies, with history (status events
 * and verdict-changing checks spread over 100 days) for the burndown.
 */
export async function seedReportsData(db: Db, n: number) {
  await db.execute(sql`
    INSERT INTO programs (id, name, legacy_service, successor_service, shutdown_at, spf_record_deletion_at, legacy_spf_includes, reminder_offsets_days, created_at)
    VALUES (${BENCH_PROGRAM_ID}, 'bench', 'legacy', 'successor', (now() + interval '40 days')::date, (now() + interval '100 days')::date, '{spf.po.2iij.net}', '{-30}', now() - interval '120 days')`);
  await db.execute(sql`
    INSERT INTO sales_owners (id, name, email, department)
    SELECT ('00000000-0000-4000-9000-' || lpad(i::text, 12, '0'))::uuid, 'Owner ' || i, 'owner' || i || '@example.co.jp', 'Dept ' || (i % 12)
    FROM generate_series(1, 500) i`);
  await db.execute(sql`
    INSERT INTO customers (id, program_id, external_ref, name, sales_owner_id, status, planned_migration_at, created_at, updated_at)
    SELECT ('00000000-0000-4000-a000-' || lpad(i::text, 12, '0'))::uuid, ${BENCH_PROGRAM_ID}, 'LEG-' || i, '株式会社テスト' || i,
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
}
