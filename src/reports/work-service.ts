import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../../db/client.ts';
import { customerScope, type Viewer } from '../access/access.ts';
import { riskDaysSql } from './readiness-service.ts';

/** The verdicts that ask the owner to do something. */
export const ACTION_VERDICTS = ['needs_mx_change', 'needs_spf_cleanup', 'needs_mx_and_spf', 'domain_not_found'] as const;

export interface CustomerNeedingAction {
  id: string;
  name: string;
  externalRef: string;
  status: string;
  plannedMigrationAt: string | null;
  programId: string;
  timezone: string;
  /** Action verdicts of its live domains, each once. */
  verdicts: string[];
  /** A domain would break when the legacy SPF record is deleted. */
  breaksAtDeletion: boolean;
  plannedDatePassed: boolean;
  /** Days to the shutdown, and the days its status needs (RISK_DAYS); at risk when fewer are left. */
  daysToShutdown: number;
  daysNeeded: number | null;
}

/**
 * A sales owner's customers that need something, for the My work page: not final, and with a domain
 * whose verdict asks for action, a domain that breaks at deletion, a planned date that has passed, or
 * fewer days to the shutdown than its status needs (at risk, as in the readiness report). Dates are
 * the program's (its time zone). Those with the least time left first.
 */
export async function customersNeedingAction(db: Db, ownerId: string, viewer: Viewer, now: Date, limit = 200): Promise<CustomerNeedingAction[]> {
  const scope = customerScope(viewer, 'c');
  const rows = rowsOf<{
    id: string;
    name: string;
    external_ref: string;
    status: string;
    planned: string | null;
    program_id: string;
    timezone: string;
    verdicts: string[] | null;
    breaks: boolean;
    planned_passed: boolean;
    days_left: number;
    days_needed: number | null;
  }>(
    await db.execute(sql`
      SELECT * FROM (
        SELECT c.id, c.name, c.external_ref, c.status, c.planned_migration_at::text AS planned, c.program_id, p.timezone,
          (SELECT array_agg(DISTINCT d.latest_verdict ORDER BY d.latest_verdict) FROM domains d
            WHERE d.customer_id = c.id AND d.archived_at IS NULL
              AND d.latest_verdict IN (${sql.join(
                ACTION_VERDICTS.map((v) => sql`${v}`),
                sql`, `,
              )})
              AND NOT (d.latest_verdict = 'domain_not_found' AND d.not_found_dismissed_at IS NOT NULL)) AS verdicts,
          EXISTS (SELECT 1 FROM domains d WHERE d.customer_id = c.id AND d.archived_at IS NULL AND d.breaks_at_deletion) AS breaks,
          coalesce(c.planned_migration_at < (${now}::timestamptz AT TIME ZONE p.timezone)::date, false) AS planned_passed,
          (p.shutdown_at - (${now}::timestamptz AT TIME ZONE p.timezone)::date)::int AS days_left,
          ${riskDaysSql} AS days_needed
        FROM customers c JOIN programs p ON p.id = c.program_id
        WHERE c.sales_owner_id = ${ownerId} AND c.status NOT IN ('completed', 'declined', 'cancelled') AND ${scope ?? sql`true`}
      ) x
      WHERE x.verdicts IS NOT NULL OR x.breaks OR x.planned_passed OR x.days_needed > x.days_left
      ORDER BY coalesce(x.days_needed, 0) - x.days_left DESC, x.name, x.id
      LIMIT ${limit}`),
  );
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    externalRef: r.external_ref,
    status: r.status,
    plannedMigrationAt: r.planned,
    programId: r.program_id,
    timezone: r.timezone,
    verdicts: r.verdicts ?? [],
    breaksAtDeletion: r.breaks,
    plannedDatePassed: r.planned_passed,
    daysToShutdown: r.days_left,
    daysNeeded: r.days_needed !== null && r.days_needed > r.days_left ? r.days_needed : null,
  }));
}

/** The names of the customers with these ids that the viewer may see (for lists of tasks). */
export async function customerNames(db: Db, ids: string[], viewer: Viewer): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const scope = customerScope(viewer, 'c');
  const rows = rowsOf<{ id: string; name: string }>(
    await db.execute(sql`SELECT c.id, c.name FROM customers c WHERE c.id = ANY(${`{${[...new Set(ids)].join(',')}}`}::uuid[]) AND ${scope ?? sql`true`}`),
  );
  return new Map(rows.map((r) => [r.id, r.name]));
}
