import { sql } from 'drizzle-orm';
import { boolean, check, date, index, integer, pgTable, text, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core';
import { salesOwners } from './sales-owners.ts';
import { timestamps, version } from './columns.ts';

export const programs = pgTable(
  'programs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    legacyService: text('legacy_service').notNull(),
    successorService: text('successor_service').notNull(),
    shutdownAt: date('shutdown_at', { mode: 'string' }).notNull(),
    spfRecordDeletionAt: date('spf_record_deletion_at', { mode: 'string' }),
    timezone: text('timezone').notNull().default('Asia/Tokyo'),
    legacyMxHostSuffixes: text('legacy_mx_host_suffixes')
      .array()
      .notNull()
      .default(sql`'{}'`),
    legacySpfIncludes: text('legacy_spf_includes')
      .array()
      .notNull()
      .default(sql`'{}'`),
    successorMxHostSuffixes: text('successor_mx_host_suffixes')
      .array()
      .notNull()
      .default(sql`'{}'`),
    successorSpfIncludes: text('successor_spf_includes')
      .array()
      .notNull()
      .default(sql`'{}'`),
    /**
     * DKIM: the selectors each side signs customers' mail with, and the DNS zones their
     * `<selector>._domainkey.<domain>` CNAMEs point into (e.g. `dkim.po.2iij.net`).
     */
    legacyDkimSelectors: text('legacy_dkim_selectors')
      .array()
      .notNull()
      .default(sql`'{}'`),
    legacyDkimTargets: text('legacy_dkim_targets')
      .array()
      .notNull()
      .default(sql`'{}'`),
    successorDkimSelectors: text('successor_dkim_selectors')
      .array()
      .notNull()
      .default(sql`'{}'`),
    successorDkimTargets: text('successor_dkim_targets')
      .array()
      .notNull()
      .default(sql`'{}'`),
    reminderOffsetsDays: integer('reminder_offsets_days').array().notNull(),
    /** Re-check cadence (hours) by state; `urgent*` applies in the window before each deadline. */
    checkIntervalActionHours: integer('check_interval_action_hours').notNull().default(6),
    checkIntervalCleanHours: integer('check_interval_clean_hours').notNull().default(24),
    checkIntervalCompletedHours: integer('check_interval_completed_hours').notNull().default(168),
    urgentWindowDays: integer('urgent_window_days').notNull().default(14),
    urgentIntervalHours: integer('urgent_interval_hours').notNull().default(1),
    /** Move customers forward from DNS evidence (migrated, completed). */
    autoProgress: boolean('auto_progress').notNull().default(true),
    /** An open task this many days overdue gets one escalation to the owner's manager. */
    escalateAfterDays: integer('escalate_after_days').notNull().default(3),
    /** Who gets escalations of owners without a manager. */
    escalationContactId: uuid('escalation_contact_id').references((): AnyPgColumn => salesOwners.id, { onDelete: 'set null' }),
    ...version,
    ...timestamps,
  },
  (t) => [
    index('programs_created_at_idx').on(t.createdAt, t.id),
    check('programs_name_not_blank', sql`length(btrim(${t.name})) > 0`),
    check('programs_escalate_after_days_nonneg', sql`${t.escalateAfterDays} >= 0`),
    check(
      'programs_check_intervals_positive',
      sql`${t.checkIntervalActionHours} > 0 AND ${t.checkIntervalCleanHours} > 0 AND ${t.checkIntervalCompletedHours} > 0 AND ${t.urgentIntervalHours} > 0 AND ${t.urgentWindowDays} >= 0`,
    ),
    check('programs_spf_deletion_after_shutdown', sql`${t.spfRecordDeletionAt} IS NULL OR ${t.spfRecordDeletionAt} > ${t.shutdownAt}`),
    check('programs_has_legacy_identifier', sql`cardinality(${t.legacyMxHostSuffixes}) + cardinality(${t.legacySpfIncludes}) > 0`),
  ],
);
