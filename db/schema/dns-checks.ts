import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { domains } from './domains.ts';
import { sqlList, verdicts } from './enums.ts';

/** Evidence of one probe of one domain: what DNS said, what we concluded, how long it took. */
export const dnsChecks = pgTable(
  'dns_checks',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    domainId: uuid('domain_id')
      .notNull()
      .references(() => domains.id, { onDelete: 'restrict' }),
    checkedAt: timestamp('checked_at', { withTimezone: true, mode: 'date' }).notNull(),
    /** `determined` when DNS answered well enough to judge; `error` when it did not (the verdict is null). */
    outcome: text('outcome', { enum: ['determined', 'error'] }).notNull(),
    verdict: text('verdict', { enum: verdicts }),
    mxState: text('mx_state'),
    spfState: text('spf_state'),
    /** The full engine result: raw records, findings, guidance. */
    result: jsonb('result').notNull(),
    durationMs: integer('duration_ms').notNull(),
    resolver: text('resolver').notNull(),
    /** The check changed the domain's verdict: kept for ever (others only the last 30). */
    verdictChanged: boolean('verdict_changed').notNull().default(false),
    /** Why the check ran: a scheduled sweep or an on-demand request. */
    trigger: text('trigger', { enum: ['sweep', 'on_demand', 'cli'] })
      .notNull()
      .default('sweep'),
  },
  (t) => [
    index('dns_checks_domain_checked_idx').on(t.domainId, t.checkedAt),
    check('dns_checks_outcome_valid', sql`${t.outcome} IN ('determined', 'error')`),
    check('dns_checks_verdict_valid', sql.raw(`verdict IS NULL OR verdict IN ${sqlList(verdicts)}`)),
    check('dns_checks_trigger_valid', sql`${t.trigger} IN ('sweep', 'on_demand', 'cli')`),
    check('dns_checks_error_has_no_verdict', sql`${t.outcome} = 'determined' OR ${t.verdict} IS NULL`),
  ],
);
