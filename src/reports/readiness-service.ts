import { sql, type SQL } from 'drizzle-orm';
import { rowsOf, type Db } from '../../db/client.ts';
import { customerStatuses } from '../../db/schema/enums.ts';
import { addDays, dayDiff, localDate } from '../lib/calendar.ts';
import { customerScope, type Viewer } from '../access/access.ts';
import { requireProgram } from './report-service.ts';

/** A customer not yet migrated is at risk with fewer days left than this for its status. */
export const RISK_DAYS: Record<string, number> = { not_contacted: 90, contacted: 60, on_hold: 60, planned: 30, migrating: 14 };
const NOT_MIGRATED = Object.keys(RISK_DAYS);

/**
 * Why a customer is at risk, by code (what a page translates; `reasons` says the same in English with
 * the figures). A customer is listed when it is not final (completed, declined, cancelled) and has a
 * deadline reason, or mail rejected or quarantined at the deletion, or its MX on the legacy service
 * while its status says migrated; the other DNS reasons only rank it higher.
 */
export const RISK_REASONS = {
  shutdown_near: 'fewer days are left to the shutdown than a customer of its status needs',
  shutdown_passed: 'the shutdown has passed and the customer is not migrated',
  planned_date_passed: 'its planned migration date has passed and it is not migrated',
  mx_on_legacy: 'every MX host of a domain is on the legacy service: its inbound mail is lost at the shutdown',
  mx_partly_on_legacy: 'some MX hosts of a domain are on the legacy service: part of its inbound mail is lost at the shutdown',
  breaks_at_deletion_reject: 'a domain still references the legacy SPF record and publishes DMARC p=reject: its mail is rejected once the record is deleted',
  breaks_at_deletion_quarantine:
    'a domain still references the legacy SPF record and publishes DMARC p=quarantine: its mail goes to spam once the record is deleted',
  breaks_at_deletion: 'a domain\u2019s SPF turns permerror once the legacy record is deleted (no DMARC policy acts on it)',
} as const;
export type RiskReason = keyof typeof RISK_REASONS;

/**
 * Risk points of DNS impacts, beside the deadline's (a day short of what the status needs, or past the
 * planned date, is a point). Mail lost or rejected on the day weighs 60, as much as a not-contacted
 * customer 30 days before the shutdown (90 − 30); an aligned successor DKIM key halves a DMARC impact
 * (signed mail still passes), quarantine is half of reject, a bare SPF permerror (spoofing protection
 * weakens, mail still flows) 10. Per customer the worst domain counts, once for inbound (MX, at the
 * shutdown) and once for outbound (SPF, at the deletion).
 */
export const DNS_RISK_POINTS = {
  mx_on_legacy: 60,
  mx_partly_on_legacy: 30,
  breaks_at_deletion_reject: 60,
  breaks_at_deletion_reject_with_dkim: 30,
  breaks_at_deletion_quarantine: 30,
  breaks_at_deletion_quarantine_with_dkim: 15,
  breaks_at_deletion: 10,
} as const;
const FINAL = ['completed', 'declined', 'cancelled'];
const STALE_MS = 48 * 3_600_000;
const SERIES_MAX_DAYS = 366;
const PACE_DAYS = 14;

const percent = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((1000 * part) / whole) / 10);
/** The days a customer `c` needs for its status (RISK_DAYS), in SQL; NULL for the other statuses. */
export const riskDaysSql = sql.raw(
  `CASE c.status ${Object.entries(RISK_DAYS)
    .map(([s, d]) => `WHEN '${s}' THEN ${d}`)
    .join(' ')} ELSE NULL END`,
);
const notMigratedSql = sql.raw(`c.status IN (${NOT_MIGRATED.map((s) => `'${s}'`).join(', ')})`);
const notFinalSql = sql.raw(`c.status NOT IN (${FINAL.map((s) => `'${s}'`).join(', ')})`);
/**
 * A domain's DNS impacts as bits, OR-ed per customer: one aggregate over the program's domains (at
 * 100k customers four aggregates, max and count each, took twice as long: 240 against 105 ms). Inbound, at the shutdown: MX
 * wholly or partly on the legacy service. Outbound, at the deletion: the SPF breaks under DMARC reject
 * or quarantine, without or with a successor DKIM key, or under no acting policy.
 */
const DNS_FLAG = { mxLegacy: 256, mxMixed: 128, reject: 64, rejectDkim: 32, quarantine: 16, quarantineDkim: 8, permerror: 2 } as const;
const dnsFlagsSql = sql.raw(`(CASE d.latest_mx_state WHEN 'legacy' THEN ${DNS_FLAG.mxLegacy} WHEN 'mixed' THEN ${DNS_FLAG.mxMixed} ELSE 0 END)
  | (CASE WHEN NOT coalesce(d.breaks_at_deletion, false) THEN 0
     WHEN d.dmarc_policy = 'reject' THEN CASE WHEN d.successor_dkim THEN ${DNS_FLAG.rejectDkim} ELSE ${DNS_FLAG.reject} END
     WHEN d.dmarc_policy = 'quarantine' THEN CASE WHEN d.successor_dkim THEN ${DNS_FLAG.quarantineDkim} ELSE ${DNS_FLAG.quarantine} END
     ELSE ${DNS_FLAG.permerror} END)`);
const has = (flags: number) => `flags & ${flags} <> 0`;
/** The worst inbound and the worst outbound impact's points (DNS_RISK_POINTS). */
const dnsPointsSql = sql.raw(`CASE WHEN ${has(DNS_FLAG.mxLegacy)} THEN ${DNS_RISK_POINTS.mx_on_legacy}
    WHEN ${has(DNS_FLAG.mxMixed)} THEN ${DNS_RISK_POINTS.mx_partly_on_legacy} ELSE 0 END
  + CASE WHEN ${has(DNS_FLAG.reject)} THEN ${DNS_RISK_POINTS.breaks_at_deletion_reject}
    WHEN ${has(DNS_FLAG.rejectDkim)} THEN ${DNS_RISK_POINTS.breaks_at_deletion_reject_with_dkim}
    WHEN ${has(DNS_FLAG.quarantine)} THEN ${DNS_RISK_POINTS.breaks_at_deletion_quarantine}
    WHEN ${has(DNS_FLAG.quarantineDkim)} THEN ${DNS_RISK_POINTS.breaks_at_deletion_quarantine_with_dkim}
    WHEN ${has(DNS_FLAG.permerror)} THEN ${DNS_RISK_POINTS.breaks_at_deletion} ELSE 0 END`);
/** DNS impacts that list a customer on their own: mail rejected or quarantined at the deletion; MX on legacy while migrated. */
const dnsListsSql = sql.raw(
  `${has(DNS_FLAG.reject | DNS_FLAG.rejectDkim | DNS_FLAG.quarantine | DNS_FLAG.quarantineDkim)} OR (${has(DNS_FLAG.mxLegacy | DNS_FLAG.mxMixed)} AND status = 'migrated')`,
);

/** Customers listed at risk, worst first; all are counted per owner. */
const AT_RISK_LISTED = 100;

/** What the at-risk query says of one customer. */
interface AtRiskFacts {
  id: string;
  name: string;
  external_ref: string;
  status: string;
  planned: string | null;
  owner: string;
  score: number;
  /** Days short of what its status needs before the shutdown, and days past its planned date. */
  short: number;
  late: number;
  /** The DNS_FLAG bits of its domains. */
  flags: number;
}

/** The reasons of an at-risk customer, worst-deadline first, each with its code and its English text. */
function riskReasons(r: AtRiskFacts, daysToShutdown: number): { code: RiskReason; text: string }[] {
  const reasons: { code: RiskReason; text: string }[] = [];
  if (r.short > 0) {
    reasons.push(
      daysToShutdown < 0
        ? { code: 'shutdown_passed', text: `the shutdown was ${-daysToShutdown} days ago and the customer is still ${r.status}` }
        : { code: 'shutdown_near', text: `${daysToShutdown} days to the shutdown, under the ${RISK_DAYS[r.status]} a ${r.status} customer needs` },
    );
  }
  if (r.late > 0) reasons.push({ code: 'planned_date_passed', text: `planned for ${r.planned}, which has passed` });
  const f = (flag: number) => (r.flags & flag) !== 0;
  if (f(DNS_FLAG.mxLegacy)) reasons.push({ code: 'mx_on_legacy', text: 'MX on the legacy service: inbound mail is lost at the shutdown' });
  else if (f(DNS_FLAG.mxMixed)) {
    reasons.push({ code: 'mx_partly_on_legacy', text: 'MX partly on the legacy service: some inbound mail is lost at the shutdown' });
  }
  const dkim = ' (mail signed with the successor\u2019s DKIM key still passes)';
  const breaking = 'a domain still references the legacy SPF record';
  if (f(DNS_FLAG.reject) || f(DNS_FLAG.rejectDkim)) {
    const text = `${breaking}, under DMARC p=reject: its mail is rejected once the record is deleted${f(DNS_FLAG.reject) ? '' : dkim}`;
    reasons.push({ code: 'breaks_at_deletion_reject', text });
  } else if (f(DNS_FLAG.quarantine) || f(DNS_FLAG.quarantineDkim)) {
    const text = `${breaking}, under DMARC p=quarantine: its mail goes to spam once the record is deleted${f(DNS_FLAG.quarantine) ? '' : dkim}`;
    reasons.push({ code: 'breaks_at_deletion_quarantine', text });
  } else if (f(DNS_FLAG.permerror)) {
    reasons.push({ code: 'breaks_at_deletion', text: `${breaking}: its SPF turns permerror once the record is deleted` });
  }
  return reasons;
}

/** Projected completion of a phase at the trailing pace, and whether it lands before its deadline. */
export function project(series: { day: string; value: number }[], today: string, deadline: string) {
  const now = series[series.length - 1]?.value ?? 0;
  if (now === 0) return { remaining: 0, perDay: null, projectedAt: today, deadline, onTime: today <= deadline };
  const back = series[Math.max(0, series.length - 1 - PACE_DAYS)]!;
  const days = Math.max(1, dayDiff(today, back.day));
  const perDay = (back.value - now) / days;
  if (perDay <= 0) return { remaining: now, perDay: Math.round(perDay * 100) / 100, projectedAt: null, deadline, onTime: false };
  const projectedAt = addDays(today, Math.ceil(now / perDay));
  return { remaining: now, perDay: Math.round(perDay * 100) / 100, projectedAt, deadline, onTime: projectedAt <= deadline };
}

/**
 * The readiness of a program as the viewer may see it (a sales token: its own customers only):
 * status counts, verdicts, the blast radius, staleness, owners and departments, at-risk customers,
 * the burndown rebuilt from history, its projection and the two gates.
 */
export async function readiness(db: Db, programId: string, viewer: Viewer, now: Date) {
  const program = await requireProgram(db, programId);
  const tz = program.timezone;
  const today = localDate(now, tz);
  const daysToShutdown = dayDiff(program.shutdownAt, today);
  const viewerScope = customerScope(viewer, 'c');
  const scope: SQL = sql`c.program_id = ${programId} AND ${viewerScope ?? sql`true`}`;
  // The program's domains the viewer may see, archived ones too (the burndown counts them until
  // archived); an admin's need no join with customers.
  const scopedDomains: SQL = viewerScope
    ? sql`domains d JOIN customers c ON c.id = d.customer_id WHERE ${scope}`
    : sql`domains d WHERE d.program_id = ${programId}`;
  const staleBefore = new Date(now.getTime() - STALE_MS);

  // Independent aggregates: run them side by side on the pool.
  type VerdictFacts = {
    verdict: string;
    n: number;
    blast_radius: number;
    mx_on_legacy: number;
    stale: number;
    unverified: number;
    not_found: number;
    not_found_dismissed: number;
    oldest_evidence: string | Date | null;
  };
  const [statusResult, verdictResult, ownerResult, atRiskResult, burndown] = await Promise.all([
    db.execute(sql`SELECT c.status, count(*)::int AS n FROM customers c WHERE ${scope} GROUP BY c.status`),
    db.execute(sql`
      SELECT coalesce(d.latest_verdict, 'unchecked') AS verdict, count(*)::int AS n,
        count(*) FILTER (WHERE d.breaks_at_deletion)::int AS blast_radius,
        count(*) FILTER (WHERE d.latest_mx_state IN ('legacy', 'mixed'))::int AS mx_on_legacy,
        count(*) FILTER (WHERE d.last_determined_at IS NULL OR d.last_determined_at < ${staleBefore})::int AS stale,
        count(*) FILTER (WHERE d.latest_verdict IS NULL OR d.latest_verdict = 'unknown')::int AS unverified,
        count(*) FILTER (WHERE d.latest_verdict = 'domain_not_found' AND d.not_found_dismissed_at IS NULL)::int AS not_found,
        count(*) FILTER (WHERE d.latest_verdict = 'domain_not_found' AND d.not_found_dismissed_at IS NOT NULL)::int AS not_found_dismissed,
        min(d.last_determined_at) AS oldest_evidence
      FROM ${scopedDomains} AND d.archived_at IS NULL GROUP BY 1`),
    db.execute(sql`
      SELECT o.id, o.name, o.department, s.statuses,
        coalesce(t.open_tasks, 0)::int AS open_tasks, coalesce(t.overdue_tasks, 0)::int AS overdue_tasks
      FROM (SELECT sales_owner_id, jsonb_object_agg(status, n) AS statuses
            FROM (SELECT c.sales_owner_id, c.status, count(*)::int AS n FROM customers c WHERE ${scope} GROUP BY 1, 2) per_status
            GROUP BY sales_owner_id) s
      JOIN sales_owners o ON o.id = s.sales_owner_id
      LEFT JOIN (SELECT assignee_id, count(*) AS open_tasks,
                   count(*) FILTER (WHERE due_at < ${now} AND (snoozed_until IS NULL OR snoozed_until <= ${now})) AS overdue_tasks
                 FROM tasks WHERE program_id = ${programId} AND status = 'open' GROUP BY assignee_id) t ON t.assignee_id = o.id
      ORDER BY o.department, o.name`),
    // The customers at risk: every one counted per owner, the worst AT_RISK_LISTED listed. One
    // statement, so the DNS facts of the program's domains are aggregated once for both.
    db.execute(sql`
      WITH dns AS (
        SELECT d.customer_id, bit_or(${dnsFlagsSql}) AS flags
        FROM ${scopedDomains} AND d.archived_at IS NULL AND (d.latest_mx_state IN ('legacy', 'mixed') OR d.breaks_at_deletion)
        GROUP BY d.customer_id),
      facts AS (
        SELECT c.id, c.sales_owner_id, c.name, c.external_ref, c.status, c.planned_migration_at,
          CASE WHEN ${notMigratedSql} THEN greatest(0, ${riskDaysSql} - ${daysToShutdown}) ELSE 0 END AS short,
          CASE WHEN ${notMigratedSql} THEN greatest(0, ${today}::date - coalesce(c.planned_migration_at, ${today}::date)) ELSE 0 END AS late,
          coalesce(dns.flags, 0) AS flags
        FROM customers c LEFT JOIN dns ON dns.customer_id = c.id
        WHERE ${scope} AND ${notFinalSql}),
      listed AS (
        SELECT *, (short + late + ${dnsPointsSql})::int AS score FROM facts WHERE short > 0 OR late > 0 OR ${dnsListsSql})
      SELECT
        (SELECT coalesce(jsonb_object_agg(sales_owner_id, n), '{}') FROM (SELECT sales_owner_id, count(*)::int AS n FROM listed GROUP BY 1) o) AS per_owner,
        (SELECT coalesce(jsonb_agg(w ORDER BY w.score DESC, w.name, w.id), '[]')
         FROM (SELECT l.id, l.name, l.external_ref, l.status, l.planned_migration_at::text AS planned, o.name AS owner, l.score, l.short, l.late, l.flags
               FROM listed l JOIN sales_owners o ON o.id = l.sales_owner_id
               ORDER BY l.score DESC, l.name, l.id LIMIT ${AT_RISK_LISTED}) w) AS worst`),
    burndownSeries(db, scope, scopedDomains, tz, program.createdAt, today),
  ]);

  const statusRows = rowsOf<{ status: string; n: number }>(statusResult);
  const statusCounts = Object.fromEntries(customerStatuses.map((s) => [s, statusRows.find((r) => r.status === s)?.n ?? 0]));
  const total = statusRows.reduce((n, r) => n + r.n, 0);
  const active = total - statusCounts.declined! - statusCounts.cancelled!;
  const verdictRows = rowsOf<VerdictFacts>(verdictResult);
  const sumOf = (f: (r: VerdictFacts) => number) => verdictRows.reduce((n, r) => n + f(r), 0);
  const evidence = verdictRows.flatMap((r) => (r.oldest_evidence === null ? [] : [new Date(r.oldest_evidence).getTime()]));
  const d = {
    total: sumOf((r) => r.n),
    blast_radius: sumOf((r) => r.blast_radius),
    mx_on_legacy: sumOf((r) => r.mx_on_legacy),
    stale: sumOf((r) => r.stale),
    unverified: sumOf((r) => r.unverified),
    not_found: sumOf((r) => r.not_found),
    not_found_dismissed: sumOf((r) => r.not_found_dismissed),
    oldest_evidence: evidence.length > 0 ? new Date(Math.min(...evidence)) : null,
  };
  const owners = rowsOf<{
    id: string;
    name: string;
    department: string;
    statuses: Record<string, number>;
    open_tasks: number;
    overdue_tasks: number;
  }>(ownerResult);
  const [atRisk] = rowsOf<{ per_owner: Record<string, number>; worst: AtRiskFacts[] }>(atRiskResult);
  const bySalesOwner = owners.map((o) => ({
    salesOwnerId: o.id,
    name: o.name,
    department: o.department,
    statusCounts: Object.fromEntries(customerStatuses.map((s) => [s, o.statuses?.[s] ?? 0])),
    openTasks: o.open_tasks,
    overdueTasks: o.overdue_tasks,
    atRisk: atRisk?.per_owner[o.id] ?? 0,
  }));
  const byDepartment = [...new Set(bySalesOwner.map((o) => o.department))].map((department) => {
    const rows = bySalesOwner.filter((o) => o.department === department);
    const sum = (f: (o: (typeof rows)[number]) => number) => rows.reduce((n, o) => n + f(o), 0);
    return {
      department,
      statusCounts: Object.fromEntries(customerStatuses.map((s) => [s, sum((o) => o.statusCounts[s]!)])),
      openTasks: sum((o) => o.openTasks),
      overdueTasks: sum((o) => o.overdueTasks),
      atRisk: sum((o) => o.atRisk),
    };
  });

  const atRiskCustomers = (atRisk?.worst ?? []).map((r) => {
    const reasons = riskReasons(r, daysToShutdown);
    return {
      customerId: r.id,
      name: r.name,
      externalRef: r.external_ref,
      status: r.status,
      salesOwner: r.owner,
      plannedMigrationAt: r.planned,
      risk: r.score,
      reasons: reasons.map((x) => x.text),
      reasonCodes: reasons.map((x) => x.code),
    };
  });

  const deletionDeadline = program.spfRecordDeletionAt ?? program.shutdownAt;
  const oldest = d.oldest_evidence ? new Date(d.oldest_evidence).toISOString() : null;
  return {
    asOf: now.toISOString(),
    today,
    daysToShutdown,
    daysToSpfRecordDeletion: program.spfRecordDeletionAt ? dayDiff(program.spfRecordDeletionAt, today) : null,
    customers: {
      total,
      active,
      statusCounts,
      migratedPercent: percent(statusCounts.migrated! + statusCounts.completed!, active),
      completedPercent: percent(statusCounts.completed!, active),
    },
    domains: {
      total: d.total,
      byVerdict: Object.fromEntries(verdictRows.map((r) => [r.verdict, r.n])),
      blastRadius: d.blast_radius,
      mxOnLegacy: d.mx_on_legacy,
      notVerifiedIn48h: d.stale,
      unverified: d.unverified,
      notFound: d.not_found,
      notFoundDismissed: d.not_found_dismissed,
    },
    byDepartment,
    bySalesOwner,
    atRiskCustomers,
    burndown,
    projection: {
      migration: project(
        burndown.map((p) => ({ day: p.day, value: p.customersNotMigrated })),
        today,
        program.shutdownAt,
      ),
      spfCleanup: project(
        burndown.map((p) => ({ day: p.day, value: p.domainsNotClean })),
        today,
        deletionDeadline,
      ),
    },
    // A domain missing from DNS may be a typo or a lapsed registration hiding a live one: it holds
    // both gates until a manager dismisses it or removes the domain.
    gates: {
      mxCutoverReady: {
        ready: d.mx_on_legacy === 0 && d.unverified === 0 && d.not_found === 0,
        mxOnLegacy: d.mx_on_legacy,
        unverified: d.unverified,
        domainsNotFound: d.not_found,
      },
      // As of the oldest evidence: a domain never verified or unknown could hide a breakage.
      spfRecordDeletionSafe: {
        safe: d.blast_radius === 0 && d.unverified === 0 && d.not_found === 0,
        blastRadius: d.blast_radius,
        unverified: d.unverified,
        domainsNotFound: d.not_found,
        evidenceAsOf: oldest,
      },
    },
  };
}

/**
 * Daily counts of customers not yet migrated and domains not yet clean, rebuilt from history: a
 * customer counts from its creation until it first left the backlog (`resolved_at`, from its status
 * events). A domain counts in spells: from its creation until a check found it clean, and again from
 * each check that found it unclean after that (a regression) until the next clean one
 * (`clean_changes`, kept from its checks: clean, unclean, clean… times); the dismissal of its
 * domain_not_found verdict or its deletion (archive) ends the spell it falls in and any later (LEAST
 * ignores nulls). Each spell is a (born, gone) pair like a customer's. The database groups the pairs
 * by 15-minute bins (every time zone's offset is a multiple of 15 minutes, and binning is plain
 * arithmetic, unlike a time-zone conversion per row); the running sums are done here.
 */
/**
 * The spells in which each domain counts as not clean: the first from its creation, each later one
 * from its k-th regression (`clean_changes[2k]`), each until the next clean check
 * (`clean_changes[2k+1]`) or the domain's exit (dismissal, archive), whichever is first; a regression
 * at or after the exit does not count. Every domain's first spell comes from its row; the later ones
 * only from the few domains that regressed (a partial index finds them): a generate_series per
 * domain more than doubled this part's time (see migration 0017).
 */
const domainSpells = (scopedDomains: SQL) => sql`
  SELECT d.created_at AS born, least(d.clean_changes[1], d.not_found_dismissed_at, d.archived_at) AS gone FROM ${scopedDomains}
  UNION ALL
  SELECT x.clean_changes[2 * k], least(x.clean_changes[2 * k + 1], x.exit)
  FROM (SELECT d.clean_changes, least(d.not_found_dismissed_at, d.archived_at) AS exit FROM ${scopedDomains} AND cardinality(d.clean_changes) >= 2) x
    CROSS JOIN LATERAL generate_series(1, cardinality(x.clean_changes) / 2) AS k
  WHERE x.exit IS NULL OR x.clean_changes[2 * k] < x.exit`;

async function burndownSeries(db: Db, scope: SQL, scopedDomains: SQL, tz: string, programCreated: Date, today: string) {
  const created = localDate(programCreated, tz);
  const earliest = addDays(today, -(SERIES_MAX_DAYS - 1));
  const start = created > earliest ? (created < today ? created : today) : earliest;
  const bin = (column: SQL) => sql`date_bin('15 minutes', ${column}, timestamptz '2000-01-01Z')`;
  const rows = rowsOf<{ born: string; gone: string | null; customers: number; domains: number }>(
    await db.execute(sql`
      SELECT (born AT TIME ZONE ${tz})::date::text AS born, (gone AT TIME ZONE ${tz})::date::text AS gone,
        sum(customers)::int AS customers, sum(domains)::int AS domains
      FROM (SELECT ${bin(sql`c.created_at`)} AS born, ${bin(sql`c.resolved_at`)} AS gone, count(*) AS customers, 0 AS domains
            FROM customers c WHERE ${scope} GROUP BY 1, 2
            UNION ALL
            SELECT ${bin(sql`s.born`)}, ${bin(sql`s.gone`)}, 0, count(*) FROM (${domainSpells(scopedDomains)}) s GROUP BY 1, 2) bins
      GROUP BY 1, 2`),
  );
  const change = new Map<string, { customers: number; domains: number }>();
  const add = (day: string, customers: number, domains: number) => {
    const at = day < start ? start : day;
    const c = change.get(at) ?? { customers: 0, domains: 0 };
    change.set(at, { customers: c.customers + customers, domains: c.domains + domains });
  };
  for (const r of rows) {
    add(r.born, r.customers, r.domains);
    if (r.gone !== null) add(r.gone, -r.customers, -r.domains);
  }
  const series: { day: string; customersNotMigrated: number; domainsNotClean: number }[] = [];
  let customers = 0;
  let domains = 0;
  for (let day = start; day <= today; day = addDays(day, 1)) {
    const c = change.get(day);
    customers += c?.customers ?? 0;
    domains += c?.domains ?? 0;
    series.push({ day, customersNotMigrated: customers, domainsNotClean: domains });
  }
  return series;
}
