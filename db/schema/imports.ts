import { sql } from 'drizzle-orm';
import { bigint, boolean, customType, date, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { programs } from './programs.ts';

export const importStates = ['receiving', 'queued', 'running', 'done', 'failed'] as const;
export type ImportState = (typeof importStates)[number];
/** States of an import that still holds its program: a second import meanwhile is refused. */
export const activeImportStates: ImportState[] = ['receiving', 'queued', 'running'];

/**
 * One CSV import: received (the bytes stored as they arrive), parsed (rows checked one by one and
 * staged), then planned and written in one transaction; in the request for a small file, by a job for
 * a large one. Its progress and result are what `GET /v1/imports/{id}` shows.
 */
export const imports = pgTable(
  'imports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'restrict' }),
    state: text('state').$type<ImportState>().notNull().default('receiving'),
    dryRun: boolean('dry_run').notNull(),
    allOrNothing: boolean('all_or_nothing').notNull(),
    /** The file's encoding as asked: auto, utf-8 or shift_jis. */
    encoding: text('encoding').notNull().default('auto'),
    /** Who asked, as the audit log names them; the job writes in their name. */
    actor: text('actor').notNull(),
    actorTokenId: uuid('actor_token_id'),
    requestId: text('request_id'),
    bytesReceived: bigint('bytes_received', { mode: 'number' }).notNull().default(0),
    /** When the file was parsed and its rows staged (by the request for a small file, else by the job). */
    parsedAt: timestamp('parsed_at', { withTimezone: true, mode: 'date' }),
    /** Rows refused while the file was parsed (the first 1,000 by line), and how many in all. */
    parseErrors: jsonb('parse_errors').notNull().default([]),
    parseErrorCount: integer('parse_error_count').notNull().default(0),
    rowsRead: integer('rows_read').notNull().default(0),
    rowsPlanned: integer('rows_planned').notNull().default(0),
    rowsWritten: integer('rows_written').notNull().default(0),
    /** The ImportResult once done (errors and conflicts listed up to a cap, all counted). */
    result: jsonb('result'),
    failure: text('failure'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /** Moves with every progress report: a receiving import whose heartbeat stopped was cut off. */
    heartbeatAt: timestamp('heartbeat_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    uniqueIndex('imports_one_active_per_program')
      .on(t.programId)
      .where(sql`${t.state} IN ('receiving', 'queued', 'running')`),
    index('imports_program_created_idx').on(t.programId, t.createdAt),
  ],
);

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

/** The file of an import as it arrived, in pieces of about 1 MiB; removed once the import ends. */
export const importChunks = pgTable(
  'import_chunks',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => imports.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.seq] })],
);

/** The rows of a file being imported, as parsed and checked one by one; removed once the import ends. */
export const importRows = pgTable(
  'import_rows',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => imports.id, { onDelete: 'cascade' }),
    line: integer('line').notNull(),
    externalRef: text('external_ref').notNull(),
    name: text('name').notNull(),
    email: text('email').notNull(),
    ownerName: text('owner_name'),
    department: text('department'),
    /** The owner's manager, by the email of a sales owner (lower case). */
    managerEmail: text('manager_email'),
    status: text('status'),
    plannedMigrationAt: date('planned_migration_at', { mode: 'string' }),
    /** Normalized (ASCII) names, and beside them as written (Unicode), in the same order. */
    domains: text('domains').array().notNull(),
    domainDisplayNames: text('domain_display_names').array().notNull(),
    /** A technical contact to add to the customer unless it has one with this email (lower case) already. */
    contactName: text('contact_name'),
    contactEmail: text('contact_email'),
    contactLanguage: text('contact_language'),
    /** Set when an earlier line has the same external ref: that line. */
    refFirstLine: integer('ref_first_line'),
    /** Domains an earlier line names too: name → that line. */
    domainFirstLines: jsonb('domain_first_lines').$type<Record<string, number>>(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.line] })],
);
