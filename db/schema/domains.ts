import { sql } from 'drizzle-orm';
import { boolean, check, foreignKey, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { timestamps } from './columns.ts';
import { customers } from './customers.ts';
import { sqlList, verdicts } from './enums.ts';
import { programs } from './programs.ts';

export const domains = pgTable(
  'domains',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'restrict' }),
    customerId: uuid('customer_id').notNull(),
    /** Normalized ASCII (punycode) form: lower case, no trailing dot. */
    name: text('name').notNull(),
    /** Unicode form for display. */
    displayName: text('display_name').notNull(),
    latestVerdict: text('latest_verdict', { enum: verdicts }),
    lastCheckedAt: timestamp('last_checked_at', { withTimezone: true, mode: 'date' }),
    lastDeterminedAt: timestamp('last_determined_at', { withTimezone: true, mode: 'date' }),
    nextCheckAt: timestamp('next_check_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    /** From the last determined check, for reports without digging into the evidence: */
    latestMxState: text('latest_mx_state'),
    /** SPF would permerror once the legacy record is deleted (the blast radius). */
    breaksAtDeletion: boolean('breaks_at_deletion'),
    /** The effective DMARC policy: none, quarantine, reject, or null (no DMARC). */
    dmarcPolicy: text('dmarc_policy'),
    /**
     * A successor DKIM selector publishes a key, so aligned DKIM can pass DMARC when SPF breaks; null
     * until a check could tell (none yet, or the program names no successor selector).
     */
    successorDkim: boolean('successor_dkim'),
    /** Last on-demand check request, for its once-a-minute limit. */
    onDemandRequestedAt: timestamp('on_demand_requested_at', { withTimezone: true, mode: 'date' }),
    /**
     * When the domain's determined checks turned it clean and unclean again, alternately, oldest first
     * (an odd count: clean now), for the burndown; kept by a trigger on dns_checks (migration 0017).
     */
    cleanChanges: timestamp('clean_changes', { withTimezone: true, mode: 'date' })
      .array()
      .notNull()
      .default(sql`'{}'`),
    /**
     * A manager's confirmation that a domain_not_found verdict is expected (the domain is gone for
     * good): when, by whom (the audit actor), why. Only while the verdict is domain_not_found; a later
     * determined check that finds the domain clears it.
     */
    notFoundDismissedAt: timestamp('not_found_dismissed_at', { withTimezone: true, mode: 'date' }),
    notFoundDismissedBy: text('not_found_dismissed_by'),
    notFoundDismissalReason: text('not_found_dismissal_reason'),
    /**
     * A deleted domain is archived, never removed: its checks, tasks and audit stay. An archived domain
     * is out of lists, readiness and sweeps, and its name is free for another customer; an admin can
     * restore it while the name is.
     */
    archivedAt: timestamp('archived_at', { withTimezone: true, mode: 'date' }),
    archivedBy: text('archived_by'),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('domains_program_name_key')
      .on(t.programId, t.name)
      .where(sql`${t.archivedAt} IS NULL`),
    foreignKey({
      name: 'domains_customer_in_program_fk',
      columns: [t.customerId, t.programId],
      foreignColumns: [customers.id, customers.programId],
    }).onDelete('cascade'),
    index('domains_customer_idx').on(t.customerId),
    index('domains_next_check_idx').on(t.nextCheckAt),
    index('domains_program_verdict_idx').on(t.programId, t.latestVerdict),
    // The burndown reads the few domains that regressed (two or more clean changes) apart from the rest.
    index('domains_regressed_idx')
      .on(t.programId)
      .where(sql`cardinality(${t.cleanChanges}) >= 2`),
    index('domains_blast_radius_idx')
      .on(t.programId)
      .where(sql`${t.breaksAtDeletion}`),
    check('domains_name_lower', sql`${t.name} = lower(${t.name}) AND right(${t.name}, 1) <> '.'`),
    check('domains_latest_verdict_valid', sql.raw(`latest_verdict IS NULL OR latest_verdict IN ${sqlList(verdicts)}`)),
    check('domains_consecutive_failures_nonneg', sql`${t.consecutiveFailures} >= 0`),
    check(
      'domains_not_found_dismissal_valid',
      sql`(${t.notFoundDismissedAt} IS NULL AND ${t.notFoundDismissedBy} IS NULL AND ${t.notFoundDismissalReason} IS NULL) OR (${t.notFoundDismissedAt} IS NOT NULL AND ${t.notFoundDismissedBy} IS NOT NULL AND length(btrim(${t.notFoundDismissalReason})) > 0 AND ${t.latestVerdict} = 'domain_not_found')`,
    ),
  ],
);
