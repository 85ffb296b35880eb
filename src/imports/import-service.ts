import { and, asc, eq, gt, inArray, isNull, lt, sql } from 'drizzle-orm';
import { col, type Db, rowsOf } from '../../db/client.ts';
import { customerContacts, customers, domains, importChunks, importRows, imports, programs, salesOwners } from '../../db/schema/index.ts';
import type { CustomerStatus } from '../../db/schema/enums.ts';
import { activeImportStates } from '../../db/schema/imports.ts';
import { appendAudits, type Actor, type AuditEntry } from '../audit/audit-repository.ts';
import { chunk } from '../lib/batches.ts';
import { addImportedContacts, type ImportedContact } from '../contacts/contact-service.ts';
import { insertImportedCustomers, updateCustomersAtVersion } from '../customer-status/customer-writer.ts';
import { decideTransition } from '../customer-status/customer-workflow.ts';
import { errors, isAppError, isUniqueViolation } from '../errors.ts';
import { enqueueInOutbox } from '../outbox/outbox-repository.ts';
import { moveOpenTasksWithCustomers } from '../tasks/task-service.ts';
import { CsvReadError, readCsv, type CsvEncoding } from './import-csv.ts';
import { initialStatuses, parseRow, readHeader, type Row } from './import-rows.ts';
import { LISTED, type Column, type ImportConflict, type ImportError, type ImportResult } from './import-schemas.ts';

/*
 * The customer-list import, in three steps that keep memory flat whatever the file's size:
 *   1. receive: the bytes are stored as they arrive (import_chunks), nothing more, so even a 200 MB
 *      file is in within the request timeout;
 *   2. parse: the stored file is decoded and parsed, each row checked on its own and staged
 *      (import_rows), and rows repeating an earlier line's external ref or domain marked, set-based;
 *   3. run: the staged rows are planned against the database and written a batch at a time (one
 *      statement reads what a batch needs), all in one transaction, so all-or-nothing holds across a
 *      crash too: a worker killed midway commits nothing and the job starts over.
 * A small file goes through all three in the request; a large one is handed to the `imports` job after
 * step 1 and followed at GET /v1/imports/{id}. This module is the one writer of imports,
 * import_chunks and import_rows.
 */

/** Rows staged, planned and written per statement. */
const BATCH = 2000;
/** An unfinished import whose heartbeat is older than this was cut off (its process died, its job was lost). */
const STALE_MS = 30 * 60_000;

export interface ImportOptions {
  dryRun: boolean;
  /** Default true: any error and nothing is written. false: valid rows are written, bad ones reported. */
  allOrNothing: boolean;
  encoding: CsvEncoding | 'auto';
  maxBytes: number;
}

export type ImportRecord = typeof imports.$inferSelect;
/** What reports progress while an import runs (rows read, planned, written so far). */
export type ImportProgress = (progress: { rowsRead?: number; rowsPlanned?: number; rowsWritten?: number }) => void;

/** A capped list, sorted by line at the end, that counts everything offered to it. */
class Listed<T extends { line: number }> {
  items: T[] = [];
  count = 0;
  constructor(initial: T[] = [], count = initial.length) {
    this.items = [...initial];
    this.count = count;
  }
  add(item: T) {
    this.count++;
    // Rows come in line order within each source, so the first LISTED of each source suffice.
    if (this.items.length < 2 * LISTED) this.items.push(item);
  }
  list() {
    return this.items.sort((a, b) => a.line - b.line).slice(0, LISTED);
  }
}

// ---------------------------------------------------------------------------------------------------
// 1. Receive: the bytes, stored as they arrive (fast whatever the file's size: no parsing in the request)

/** Bytes of the file per stored piece. */
const CHUNK_BYTES = 1024 * 1024;

/** Claims the program for a new import (409 naming the running one otherwise), then stores the file. */
export async function receiveImport(
  db: Db,
  programId: string,
  source: AsyncIterable<Buffer | string>,
  options: ImportOptions,
  actor: Actor,
  now: Date,
): Promise<ImportRecord> {
  const [program] = await db.select({ id: programs.id }).from(programs).where(eq(programs.id, programId));
  if (!program) throw errors.programNotFound(programId);
  const record = await claimProgram(db, programId, options, actor, now);
  let bytesReceived = 0;
  let seq = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const store = async () => {
    if (pendingBytes === 0) return;
    await db.insert(importChunks).values({ importId: record.id, seq: seq++, data: Buffer.concat(pending) });
    pending = [];
    pendingBytes = 0;
    await db.update(imports).set({ bytesReceived, heartbeatAt: new Date() }).where(eq(imports.id, record.id));
  };
  try {
    for await (const piece of source) {
      const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
      bytesReceived += bytes.length;
      if (bytesReceived > options.maxBytes) throw errors.bodyTooLarge('file', options.maxBytes);
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= CHUNK_BYTES) await store();
    }
    await store();
    return { ...record, bytesReceived };
  } catch (err) {
    await finishFailed(db, record.id, isAppError(err) ? err.message : 'the upload was cut off', new Date());
    throw err;
  }
}

/**
 * The new import's row, holding the program. An unfinished import whose heartbeat stopped (the process
 * receiving or running it died, or its job was lost) gives way instead of holding the program for good;
 * should its job still run later, it finds the import failed and does nothing.
 */
async function claimProgram(db: Db, programId: string, options: ImportOptions, actor: Actor, now: Date): Promise<ImportRecord> {
  await db
    .update(imports)
    .set({ state: 'failed', failure: `no progress for ${STALE_MS / 60_000} minutes: the process receiving or running it stopped`, finishedAt: now })
    .where(and(eq(imports.programId, programId), inArray(imports.state, activeImportStates), lt(imports.heartbeatAt, new Date(now.getTime() - STALE_MS))));
  try {
    const [row] = await db
      .insert(imports)
      .values({
        programId,
        dryRun: options.dryRun,
        allOrNothing: options.allOrNothing,
        encoding: options.encoding,
        actor: actor.name,
        actorTokenId: actor.tokenId ?? null,
        requestId: actor.requestId ?? null,
        createdAt: now,
        heartbeatAt: now,
      })
      .returning();
    return row!;
  } catch (err) {
    if (!isUniqueViolation(err, 'imports_one_active_per_program')) throw err;
    const [running] = await db
      .select({ id: imports.id, state: imports.state })
      .from(imports)
      .where(and(eq(imports.programId, programId), inArray(imports.state, activeImportStates)));
    const which = running ? `import ${running.id} (${running.state}, /v1/imports/${running.id})` : 'another import';
    throw errors.importRunning(which, programId, {
      runningImport: running?.id ?? null,
    });
  }
}

async function stageRows(db: Db, importId: string, rows: Row[]) {
  if (rows.length === 0) return;
  await db.execute(sql`
    INSERT INTO import_rows (import_id, line, external_ref, name, email, owner_name, department, manager_email, status, planned_migration_at, domains, domain_display_names,
                             contact_name, contact_email, contact_language)
    SELECT ${importId}, r.line, r.external_ref, r.name, r.email, r.owner_name, r.department, r.manager_email, r.status, r.planned,
           string_to_array(r.domains, ' '), string_to_array(r.display, ' '), r.contact_name, r.contact_email, r.contact_language
    FROM unnest(${col(rows.map((r) => r.line))}::int[], ${col(rows.map((r) => r.externalRef))}::text[], ${col(rows.map((r) => r.name))}::text[],
                ${col(rows.map((r) => r.email))}::text[], ${col(rows.map((r) => r.ownerName ?? null))}::text[], ${col(rows.map((r) => r.department ?? null))}::text[],
                ${col(rows.map((r) => r.managerEmail ?? null))}::text[],
                ${col(rows.map((r) => r.status ?? null))}::text[], ${col(rows.map((r) => r.plannedMigrationAt ?? null))}::date[],
                ${col(rows.map((r) => r.domains.map((d) => d.ascii).join(' ')))}::text[], ${col(rows.map((r) => r.domains.map((d) => d.unicode).join(' ')))}::text[],
                ${col(rows.map((r) => r.contact?.name ?? null))}::text[], ${col(rows.map((r) => r.contact?.email ?? null))}::text[],
                ${col(rows.map((r) => r.contact?.language ?? null))}::text[])
      AS r(line, external_ref, name, email, owner_name, department, manager_email, status, planned, domains, display, contact_name, contact_email, contact_language)`);
}

// ---------------------------------------------------------------------------------------------------
// 2. Parse: the stored file, read a piece at a time, each row checked on its own and staged

async function* storedFile(db: Db, importId: string) {
  for (let seq = 0; ; seq++) {
    const [chunk] = await db
      .select({ data: importChunks.data })
      .from(importChunks)
      .where(and(eq(importChunks.importId, importId), eq(importChunks.seq, seq)));
    if (!chunk) return;
    yield chunk.data;
  }
}

/**
 * Parses the stored file into staged rows (starting over if an earlier attempt was cut off), keeps the
 * first LISTED errors and counts them all, then marks which rows repeat an earlier line's external ref
 * or domain: one set-based statement each, so the planner needs no memory of earlier batches.
 */
async function parseImport(db: Db, record: ImportRecord, report: ImportProgress): Promise<ImportRecord> {
  await db.delete(importRows).where(eq(importRows.importId, record.id));
  const problems = new Listed<ImportError>();
  let rowsRead = 0;
  let batch: Row[] = [];
  const flush = async () => {
    await stageRows(db, record.id, batch);
    batch = [];
    report({ rowsRead });
  };
  let index: Map<Column, number> | undefined;
  const rowProblems: ImportError[] = [];
  try {
    const encoding = record.encoding as CsvEncoding | 'auto';
    for await (const csv of readCsv(storedFile(db, record.id), { encoding, maxBytes: Number.MAX_SAFE_INTEGER })) {
      rowProblems.length = 0;
      if (!index) {
        index = readHeader(csv.fields, rowProblems);
        for (const p of rowProblems) problems.add(p);
        if (!index) break;
        continue;
      }
      rowsRead++;
      const row = parseRow(csv.line, csv.fields, index, rowProblems);
      for (const p of rowProblems) problems.add(p);
      if (row) batch.push(row);
      if (batch.length >= BATCH) await flush();
    }
  } catch (err) {
    if (!(err instanceof CsvReadError)) throw err;
    problems.add({ line: err.line, column: null, message: err.message });
  }
  if (!index && problems.count === 0) problems.add({ line: 1, column: null, message: 'the file is empty; expected a header row' });
  await flush();
  if (rowsRead >= ANALYZE_AFTER_ROWS) await db.execute(sql`ANALYZE import_rows`);
  await db.execute(sql`
    UPDATE import_rows r SET ref_first_line = f.first
    FROM (SELECT external_ref, min(line) AS first FROM import_rows WHERE import_id = ${record.id} GROUP BY external_ref HAVING count(*) > 1) f
    WHERE r.import_id = ${record.id} AND r.external_ref = f.external_ref AND r.line <> f.first`);
  await db.execute(sql`
    UPDATE import_rows r SET domain_first_lines = d.firsts
    FROM (SELECT line, jsonb_object_agg(name, first) AS firsts
          FROM (SELECT r.line, n.name, min(r.line) OVER (PARTITION BY n.name) AS first
                FROM import_rows r, unnest(r.domains) AS n(name) WHERE r.import_id = ${record.id}) x
          WHERE line <> first GROUP BY line) d
    WHERE r.import_id = ${record.id} AND r.line = d.line`);
  const [parsed] = await db
    .update(imports)
    .set({ parsedAt: new Date(), parseErrors: problems.list(), parseErrorCount: problems.count, rowsRead, heartbeatAt: new Date() })
    .where(eq(imports.id, record.id))
    .returning();
  return parsed!;
}

// ---------------------------------------------------------------------------------------------------
// 3. Run: planned and written a batch at a time, in one transaction

/** Thrown inside the import's transaction to undo it: all-or-nothing found an error after writing began. */
class RollBack extends Error {}

/**
 * Parses a received import (unless done before) and plans and writes it, a batch of staged rows at a
 * time, in one transaction. Returns the result, also stored on the import; running it again after it
 * finished returns the stored result.
 */
export async function runImport(db: Db, importId: string, now: Date, onProgress?: ImportProgress): Promise<ImportResult> {
  let [record] = await db.select().from(imports).where(eq(imports.id, importId));
  if (!record) throw errors.importNotFound(importId);
  if (record.state === 'done') return storedResult(record.result);
  if (record.state === 'failed') throw errors.importFailed(importId, record.failure);
  await db.update(imports).set({ state: 'running', startedAt: new Date(), heartbeatAt: new Date() }).where(eq(imports.id, importId));
  const report: ImportProgress = (p) => {
    onProgress?.(p);
    void db
      .update(imports)
      .set({ ...p, heartbeatAt: new Date() })
      .where(eq(imports.id, importId))
      .catch(() => {}); // progress is advisory
  };
  if (!record.parsedAt) record = await parseImport(db, record, report);
  const parseErrors = record.parseErrors as ImportError[];
  const headerFailed = parseErrors.some((e) => e.line === 1);
  const run = new ImportRun(record, now, parseErrors, report);
  const finish = async (tx: Db, result: ImportResult) => {
    await tx.update(imports).set({ state: 'done', result, rowsWritten: run.rowsWritten, finishedAt: new Date() }).where(eq(imports.id, importId));
    await dropStaged(tx, importId);
    return result;
  };

  const writes = !record.dryRun && !headerFailed && !(record.allOrNothing && record.parseErrorCount > 0);
  try {
    const result = await db.transaction(async (tx) => {
      await lockProgramImports(tx, record.programId);
      // Two deliveries of the job at once: the second waits for the lock, then finds the import done.
      const [again] = await tx.select({ state: imports.state, result: imports.result }).from(imports).where(eq(imports.id, importId));
      if (again?.state === 'done') return storedResult(again.result);
      const result = await run.plan(tx, writes);
      if (record.allOrNothing && result.errorCount > 0 && run.rowsWritten > 0) throw new RollBack();
      return finish(tx, result);
    });
    if (result.written && result.created + result.domainsAdded >= ANALYZE_AFTER_ROWS) {
      // Fresh statistics at once, not at autovacuum's next round: until then PostgreSQL plans the
      // next sweep's and reports' queries as if the new rows were not there. Advisory: the import is
      // committed whatever happens here, and autovacuum analyzes the tables later anyway.
      await db.execute(sql`ANALYZE customers, domains, sales_owners`).catch(() => {});
    }
    return result;
  } catch (err) {
    if (!(err instanceof RollBack)) throw err;
    return finish(db, run.result(false));
  }
}

/** A result as stored: one from before imports took contacts counts none. */
export function storedResult(result: unknown): ImportResult {
  const stored = result as Omit<ImportResult, 'contactsAdded'> & { contactsAdded?: number };
  return { ...stored, contactsAdded: stored.contactsAdded ?? 0 };
}

/** The stored file and the staged rows of an import that ended. */
async function dropStaged(db: Db, importId: string) {
  await db.delete(importRows).where(eq(importRows.importId, importId));
  await db.delete(importChunks).where(eq(importChunks.importId, importId));
}

/** Marks an import failed (a job that gave up, a file that could not be read); its staged rows go. */
export async function finishFailed(db: Db, importId: string, failure: string, now: Date) {
  await db.transaction(async (tx) => {
    await tx
      .update(imports)
      .set({ state: 'failed', failure, finishedAt: now })
      .where(and(eq(imports.id, importId), inArray(imports.state, activeImportStates)));
    await dropStaged(tx, importId);
  });
}

/** Hands a received import to the `imports` job: queued, and the job in the outbox, in one transaction. */
export async function queueImport(db: Db, importId: string, now: Date): Promise<ImportRecord> {
  return db.transaction(async (tx) => {
    const [row] = await tx.update(imports).set({ state: 'queued', heartbeatAt: now }).where(eq(imports.id, importId)).returning();
    await enqueueInOutbox(tx, 'imports', 'run-import', { importId }, `import-${importId}`, now);
    return row!;
  });
}

export async function getImport(db: Db, id: string): Promise<ImportRecord> {
  const [row] = await db.select().from(imports).where(eq(imports.id, id));
  if (!row) throw errors.importNotFound(id);
  return row;
}

/** Receives and runs an import in one go, as the CLI does (the API decides by size between this and the job). */
export async function importFile(
  db: Db,
  programId: string,
  source: AsyncIterable<Buffer | string>,
  options: ImportOptions,
  actor: Actor,
  now: Date,
  onProgress?: ImportProgress,
): Promise<ImportResult> {
  const received = await receiveImport(db, programId, source, options, actor, now);
  return runOrFail(db, received.id, now, onProgress);
}

/** Runs an import; one that throws is marked failed (its transaction undone) before the error goes on. */
export async function runOrFail(db: Db, importId: string, now: Date, onProgress?: ImportProgress) {
  try {
    return await runImport(db, importId, now, onProgress);
  } catch (err) {
    if (!isAppError(err)) await finishFailed(db, importId, 'the import failed; nothing was written', new Date()).catch(() => {});
    throw err;
  }
}

/** One import per program at a time, also across processes: a transaction-scoped advisory lock. */
async function lockProgramImports(tx: Db, programId: string) {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`mdt:import:${programId}`}, 0))`);
}

/** Rows an import must add before it refreshes the planner's statistics itself. */
const ANALYZE_AFTER_ROWS = 1000;

type CustomerRow = typeof customers.$inferSelect;
type StagedRow = typeof importRows.$inferSelect;
interface Owner {
  id: string | null;
  name: string;
  department: string;
  active: boolean;
  /** Email of the owner's manager, as the database has it or as this import sets it. */
  managerEmail: string | null;
}
interface Update {
  row: Row;
  current: CustomerRow;
  changes: Partial<CustomerRow>;
  /** The row names another owner (maybe one this import creates, so no id yet). */
  ownerChanged: boolean;
  addDomains: Row['domains'];
  /** The row's contact is new to the customer. */
  addContact: boolean;
}
/** What a planned batch writes: new customers, changed ones, and existing ones that only get a contact. */
interface PlannedBatch {
  creates: Row[];
  updates: Update[];
  contactsOnly: { row: Row; customerId: string }[];
}

const toRow = (s: StagedRow): Row => ({
  line: s.line,
  externalRef: s.externalRef,
  name: s.name,
  email: s.email,
  ...(s.ownerName ? { ownerName: s.ownerName } : {}),
  ...(s.department ? { department: s.department } : {}),
  ...(s.managerEmail ? { managerEmail: s.managerEmail } : {}),
  ...(s.status ? { status: s.status as CustomerStatus } : {}),
  ...(s.plannedMigrationAt ? { plannedMigrationAt: s.plannedMigrationAt } : {}),
  domains: s.domains.map((ascii, i) => ({ ascii, unicode: s.domainDisplayNames[i] ?? ascii })),
  ...(s.contactName && s.contactEmail ? { contact: { name: s.contactName, email: s.contactEmail, language: s.contactLanguage === 'en' ? 'en' : 'ja' } } : {}),
});

/**
 * One run of an import: walks the staged rows in line order, a batch at a time; for each batch, reads
 * what it needs from the database in a few set-based statements, decides each row, and (when it
 * writes) writes the batch. What it carries from batch to batch is bounded by the number of sales
 * owners, not rows: counts, the owners, and the first LISTED errors and conflicts.
 */
class ImportRun {
  private errors: Listed<ImportError>;
  private conflicts = new Listed<ImportConflict>();
  private counts = { created: 0, updated: 0, unchanged: 0, ownersCreated: 0, ownersUpdated: 0, domainsAdded: 0, contactsAdded: 0 };
  private written = false;
  rowsWritten = 0;
  private analyzeAt = BATCH;
  /** Owners by lower-case email, as the database has them and as this import creates or renames them. */
  private owners = new Map<string, Owner>();
  /** Where each owner's name, department and manager were first given in the file (a later row may not disagree). */
  private ownerDefinedAt = new Map<string, { name?: string; department?: string; manager?: string; line: number }>();
  private ownersUpdated = new Set<string>();
  /** Owners whose manager this import sets (new owners included), written after the owners are. */
  private managersSet = new Set<string>();

  constructor(
    private record: ImportRecord,
    private now: Date,
    parseErrors: ImportError[],
    private report: ImportProgress,
  ) {
    this.errors = new Listed(parseErrors, record.parseErrorCount);
  }

  private get actor(): Actor {
    return { name: this.record.actor, tokenId: this.record.actorTokenId, requestId: this.record.requestId };
  }

  result(written = this.written): ImportResult {
    return {
      importId: this.record.id,
      ...this.counts,
      errors: this.errors.list(),
      errorCount: this.errors.count,
      conflicts: this.conflicts.list(),
      conflictCount: this.conflicts.count,
      dryRun: this.record.dryRun,
      written,
    };
  }

  /** Plans every batch, and writes each while `write` holds (all-or-nothing stops writing at the first error). */
  async plan(db: Db, write: boolean): Promise<ImportResult> {
    const everyOwner = await db.select().from(salesOwners);
    const emailOf = new Map(everyOwner.map((o) => [o.id, o.email.toLowerCase()]));
    for (const o of everyOwner) {
      this.owners.set(o.email.toLowerCase(), {
        id: o.id,
        name: o.name,
        department: o.department,
        active: o.active,
        managerEmail: o.managerId ? (emailOf.get(o.managerId) ?? null) : null,
      });
    }
    let after = 0;
    let planned = 0;
    for (;;) {
      const staged = await this.readBatch(db, after);
      if (staged.length === 0) break;
      after = staged.at(-1)!.row.line;
      const batch = this.planBatch(staged);
      planned += staged.length;
      this.report({ rowsPlanned: planned });
      if (write && (!this.record.allOrNothing || this.errors.count === 0)) {
        await this.writeBatch(db, batch);
        this.rowsWritten += batch.creates.length + batch.updates.length + batch.contactsOnly.length;
        this.report({ rowsWritten: this.rowsWritten });
        if (this.rowsWritten >= this.analyzeAt) {
          // Statistics taken before the import say this program has few customers and domains, and
          // PostgreSQL would then look a batch's rows up by the program alone, scanning all it has so
          // far for every batch. ANALYZE inside the transaction counts the rows it wrote; doubling
          // the threshold keeps that to a handful of runs.
          await db.execute(sql`ANALYZE customers, domains`);
          this.analyzeAt *= 2;
        }
      }
    }
    if (this.written) {
      const summary = { ...this.counts, errors: this.errors.count, conflicts: this.conflicts.count };
      await appendAudits(db, this.actor, [{ action: 'program.import', entityType: 'program', entityId: this.record.programId, after: summary }], this.now);
    }
    return this.result();
  }

  /**
   * The next batch of staged rows after `after`, each with what the plan needs from the database: the
   * customer of its external ref, which customer holds each of its domains, and the verdicts of that
   * customer's domains. Each a lookup of one table by an array of keys on a unique or plain index:
   * the tables grow as the import writes, and a join planned on statistics taken before would scan
   * them whole for every row.
   */
  private async readBatch(db: Db, after: number) {
    const programId = this.record.programId;
    const staged = await db
      .select()
      .from(importRows)
      .where(and(eq(importRows.importId, this.record.id), gt(importRows.line, after)))
      .orderBy(asc(importRows.line))
      .limit(BATCH);
    if (staged.length === 0) return [];
    const refs = staged.map((r) => r.externalRef);
    const names = [...new Set(staged.flatMap((r) => r.domains))];
    const existing = new Map(
      (
        await db
          .select()
          .from(customers)
          .where(and(eq(customers.programId, programId), sql`${customers.externalRef} = ANY(${col(refs)}::text[])`))
      ).map((c) => [c.externalRef, c]),
    );
    const holders = new Map<string, string>();
    if (names.length > 0) {
      const held = await db
        .select({ name: domains.name, customerId: domains.customerId })
        .from(domains)
        .where(and(eq(domains.programId, programId), sql`${domains.name} = ANY(${col(names)}::text[])`, isNull(domains.archivedAt)));
      for (const d of held) holders.set(d.name, d.customerId);
    }
    const verdictsOf = new Map<string, (string | null)[]>();
    if (existing.size > 0) {
      const held = await db
        .select({ customerId: domains.customerId, verdict: domains.latestVerdict })
        .from(domains)
        .where(and(sql`${domains.customerId} = ANY(${col([...existing.values()].map((c) => c.id))}::uuid[])`, isNull(domains.archivedAt)));
      for (const d of held) verdictsOf.set(d.customerId, [...(verdictsOf.get(d.customerId) ?? []), d.verdict]);
    }
    // The contacts the rows name that their customers have already (by email, case-insensitive).
    const contactsHeld = new Set<string>();
    const asked = staged.flatMap((s) => {
      const current = existing.get(s.externalRef);
      return current && s.contactEmail ? [{ customerId: current.id, email: s.contactEmail }] : [];
    });
    if (asked.length > 0) {
      const held = await db
        .select({ customerId: customerContacts.customerId, email: sql<string>`lower(${customerContacts.email})` })
        .from(customerContacts)
        .where(
          and(
            sql`${customerContacts.customerId} = ANY(${col(asked.map((a) => a.customerId))}::uuid[])`,
            sql`lower(${customerContacts.email}) = ANY(${col(asked.map((a) => a.email))}::text[])`,
          ),
        );
      for (const c of held) contactsHeld.add(`${c.customerId} ${c.email}`);
    }
    return staged.map((s) => {
      const current = existing.get(s.externalRef);
      return {
        row: toRow(s),
        refFirstLine: s.refFirstLine,
        domainFirstLines: s.domainFirstLines ?? {},
        current,
        holders,
        verdicts: current ? (verdictsOf.get(current.id) ?? []) : [],
        hasContact: Boolean(current && s.contactEmail && contactsHeld.has(`${current.id} ${s.contactEmail}`)),
      };
    });
  }

  /** Decides what each row of a batch does; problems become errors of their row. */
  private planBatch(staged: Awaited<ReturnType<ImportRun['readBatch']>>): PlannedBatch {
    const creates: Row[] = [];
    const updates: Update[] = [];
    const contactsOnly: PlannedBatch['contactsOnly'] = [];
    for (const { row, refFirstLine, domainFirstLines, current, holders, verdicts, hasContact } of staged) {
      let failed = false;
      const fail = (column: Column | null, message: string) => {
        failed = true;
        this.errors.add({ line: row.line, column, message });
      };
      if (refFirstLine !== null) fail('external_ref', `${row.externalRef} already appears on line ${refFirstLine}`);

      // Owners: the first row that names an owner's name or department sets it; a later row may not disagree.
      const defined = this.ownerDefinedAt.get(row.email);
      for (const [field, column] of [
        ['name', 'sales_owner_name'],
        ['department', 'department'],
      ] as const) {
        const value = field === 'name' ? row.ownerName : row.department;
        if (value && defined?.[field] && defined[field] !== value) fail(column, `disagrees with line ${defined.line} for ${row.email} ("${defined[field]}")`);
      }
      const owner = this.owners.get(row.email);
      if (owner && !owner.active) fail('sales_owner_email', `${row.email} is an inactive sales owner`);
      if (!owner && (!row.ownerName || !row.department)) {
        if (!row.ownerName) fail('sales_owner_name', `is needed to create the new sales owner ${row.email}`);
        if (!row.department) fail('department', `is needed to create the new sales owner ${row.email}`);
      }
      const managerProblem = this.managerProblem(row, defined);
      if (managerProblem) fail('manager_email', managerProblem);

      const newDomains: Row['domains'] = [];
      for (const d of row.domains) {
        const other = domainFirstLines[d.ascii];
        if (other !== undefined) {
          fail('domains', `${d.unicode} already appears on line ${other}`);
          continue;
        }
        const holder = holders.get(d.ascii);
        if (holder && holder !== current?.id) fail('domains', `${d.unicode} already belongs to another customer of this program`);
        if (!holder) newDomains.push(d);
      }

      let changes: Partial<CustomerRow> = {};
      if (current && row.status && row.status !== current.status) {
        const decision = decideTransition({
          from: current.status,
          to: row.status,
          statusBeforeHold: current.statusBeforeHold,
          role: 'admin',
          domainVerdicts: verdicts,
        });
        if (!decision.ok) fail('status', `${current.status} → ${row.status}: ${decision.message}`);
        else changes = { status: row.status, statusBeforeHold: row.status === 'on_hold' ? current.status : null };
      }
      if (!current && row.status && !(initialStatuses as readonly CustomerStatus[]).includes(row.status)) {
        fail('status', `a new customer cannot start as ${row.status} (one of ${initialStatuses.join(', ')})`);
      }
      if (failed) continue;

      // The row is valid: record its effects.
      this.ownerDefinedAt.set(row.email, {
        name: defined?.name ?? row.ownerName,
        department: defined?.department ?? row.department,
        manager: defined?.manager ?? row.managerEmail,
        line: defined?.line ?? row.line,
      });
      if (!owner) {
        this.owners.set(row.email, { id: null, name: row.ownerName!, department: row.department!, active: true, managerEmail: row.managerEmail ?? null });
        this.counts.ownersCreated++;
        if (row.managerEmail) this.managersSet.add(row.email);
      } else if (
        (row.ownerName && row.ownerName !== owner.name) ||
        (row.department && row.department !== owner.department) ||
        (row.managerEmail && row.managerEmail !== owner.managerEmail)
      ) {
        owner.name = row.ownerName ?? owner.name;
        owner.department = row.department ?? owner.department;
        if (row.managerEmail && row.managerEmail !== owner.managerEmail) {
          owner.managerEmail = row.managerEmail;
          this.managersSet.add(row.email);
        }
        if (owner.id && !this.ownersUpdated.has(row.email)) this.counts.ownersUpdated++;
        if (owner.id) this.ownersUpdated.add(row.email);
      }
      if (!current) {
        creates.push(row);
        this.counts.created++;
        this.counts.domainsAdded += row.domains.length;
        if (row.contact) this.counts.contactsAdded++;
        continue;
      }
      if (row.name !== current.name) changes.name = row.name;
      const ownerChanged = owner?.id !== current.salesOwnerId;
      if (row.plannedMigrationAt && row.plannedMigrationAt !== current.plannedMigrationAt) changes.plannedMigrationAt = row.plannedMigrationAt;
      const addContact = Boolean(row.contact) && !hasContact;
      if (addContact) this.counts.contactsAdded++;
      if (Object.keys(changes).length === 0 && !ownerChanged && newDomains.length === 0) {
        // A contact is not the customer's own data (its version stays, as with POST …/contacts).
        if (addContact) {
          contactsOnly.push({ row, customerId: current.id });
          this.counts.updated++;
        } else this.counts.unchanged++;
        continue;
      }
      updates.push({ row, current, changes, ownerChanged, addDomains: newDomains, addContact });
      this.counts.updated++;
      this.counts.domainsAdded += newDomains.length;
    }
    return { creates, updates, contactsOnly };
  }

  /**
   * Why a row's manager_email cannot be its owner's manager, or undefined. The manager is a sales owner
   * already (active), or one this import creates on an earlier line, as owners are created: by a row
   * that names them as sales_owner_email with name and department. Like the owner's name and
   * department, the first row that names an owner's manager sets it and a later row may not disagree;
   * an empty cell leaves the manager as it is. No owner may end up managing themselves, directly or
   * through others (escalations would go round in a circle).
   */
  private managerProblem(row: Row, defined: { manager?: string; line: number } | undefined): string | undefined {
    const email = row.managerEmail;
    if (!email) return undefined;
    if (defined?.manager && defined.manager !== email) return `disagrees with line ${defined.line} for ${row.email} ("${defined.manager}")`;
    const manager = this.owners.get(email);
    if (!manager) return `${email} is not a sales owner (a new one must first be named as sales_owner_email, with name and department, on an earlier line)`;
    if (!manager.active) return `${email} is an inactive sales owner`;
    const seen = new Set<string>();
    for (let above: string | null = email; above !== null && !seen.has(above); above = this.owners.get(above)?.managerEmail ?? null) {
      if (above === row.email) return `${email} is managed by ${row.email}, directly or indirectly: that would make a management cycle`;
      seen.add(above);
    }
    return undefined;
  }

  /**
   * Writes a planned batch. The counts become what was written: a customer or domain someone else
   * created, or a customer someone changed, since the plan read it is a conflict, and theirs stands.
   */
  private async writeBatch(tx: Db, batch: PlannedBatch) {
    const { now, actor } = this;
    const ownerIds = await this.writeOwners(tx);
    const audit: AuditEntry[] = [];
    const newDomains: { customerId: string; ascii: string; unicode: string; line: number; externalRef: string }[] = [];
    const newContacts: (ImportedContact & { contactOnly: boolean })[] = [];
    const contactOf = (row: Row, customerId: string, contactOnly = false) => {
      if (row.contact) newContacts.push({ customerId, ...row.contact, contactOnly });
    };
    const conflict = (row: Row, message: string) => this.conflicts.add({ line: row.line, externalRef: row.externalRef, message });

    const creates = batch.creates.map((row) => ({
      row,
      customer: {
        externalRef: row.externalRef,
        name: row.name,
        salesOwnerId: ownerIds(row.email),
        status: row.status ?? 'not_contacted',
        plannedMigrationAt: row.plannedMigrationAt ?? null,
        note: `import line ${row.line}`,
      },
    }));
    const idOf = await insertImportedCustomers(
      tx,
      this.record.programId,
      creates.map((c) => c.customer),
      actor,
      now,
    );
    for (const { row, customer } of creates) {
      const id = idOf.get(row.externalRef);
      if (id === undefined) {
        conflict(row, 'a customer with this external_ref was created meanwhile; import the file again to update it');
        this.counts.created--;
        this.counts.domainsAdded -= row.domains.length;
        if (row.contact) this.counts.contactsAdded--;
        continue;
      }
      contactOf(row, id);
      for (const d of row.domains) newDomains.push({ customerId: id, ...d, line: row.line, externalRef: row.externalRef });
      const { note: _, ...after } = customer;
      audit.push({
        action: 'customer.import',
        entityType: 'customer',
        entityId: id,
        after: { ...after, domains: row.domains.map((d) => d.ascii), line: row.line },
      });
    }

    const updates = batch.updates.map((u) => {
      if (u.ownerChanged) u.changes.salesOwnerId = ownerIds(u.row.email);
      return { ...u, next: { ...u.current, ...u.changes }, note: `import line ${u.row.line}` };
    });
    const written = await updateCustomersAtVersion(tx, updates, actor, now);
    const applied = updates.filter((u) => written.has(u.current.id));
    for (const u of updates) {
      if (written.has(u.current.id)) continue;
      conflict(u.row, 'the customer changed while the import ran (a status change, reassignment or edit); nothing of that change was overwritten');
      this.counts.updated--;
      this.counts.domainsAdded -= u.addDomains.length;
      if (u.addContact) this.counts.contactsAdded--;
    }
    // Open tasks follow the customer to its new owner, as with /reassign.
    await moveOpenTasksWithCustomers(
      tx,
      applied.filter((u) => u.ownerChanged).map((u) => ({ customerId: u.current.id, fromOwnerId: u.current.salesOwnerId, toOwnerId: u.next.salesOwnerId })),
      now,
    );
    for (const u of applied) {
      if (u.addContact) contactOf(u.row, u.current.id);
      const keys = Object.keys(u.changes) as (keyof CustomerRow)[];
      for (const d of u.addDomains) newDomains.push({ customerId: u.current.id, ...d, line: u.row.line, externalRef: u.row.externalRef });
      audit.push({
        action: 'customer.import',
        entityType: 'customer',
        entityId: u.current.id,
        before: Object.fromEntries(keys.map((k) => [k, u.current[k]])),
        after: { ...Object.fromEntries(keys.map((k) => [k, u.next[k]])), addedDomains: u.addDomains.map((d) => d.ascii), line: u.row.line },
      });
    }

    const added = await insertDomainRows(tx, this.record.programId, newDomains, now);
    for (const d of newDomains) {
      if (added.has(d.ascii)) continue;
      this.conflicts.add({ line: d.line, externalRef: d.externalRef, message: `${d.unicode} was added to another customer meanwhile; it stays there` });
      this.counts.domainsAdded--;
    }
    await appendAudits(tx, actor, audit, now);
    for (const { row, customerId } of batch.contactsOnly) contactOf(row, customerId, true);
    const contacts = await addImportedContacts(tx, newContacts, actor, now);
    // One with that email added by someone meanwhile: the customer has the contact; nothing more to do.
    const addedTo = new Set(contacts.map((c) => c.customerId));
    for (const c of newContacts) {
      if (addedTo.has(c.customerId)) continue;
      this.counts.contactsAdded--;
      if (c.contactOnly) {
        this.counts.updated--;
        this.counts.unchanged++;
      }
    }
    if (idOf.size + applied.length + added.size + contacts.length > 0) this.written = true;
  }

  /** Creates the owners planned so far that have no id yet and renames those planned; email → id. */
  private async writeOwners(tx: Db) {
    const { now } = this;
    const toCreate = [...this.owners].filter(([, o]) => o.id === null);
    if (toCreate.length > 0) {
      await tx.execute(sql`
        INSERT INTO sales_owners (email, name, department, created_at, updated_at)
        SELECT o.email, o.name, o.department, ${now}, ${now}
        FROM unnest(${col(toCreate.map(([email]) => email))}::text[], ${col(toCreate.map(([, o]) => o.name))}::text[], ${col(toCreate.map(([, o]) => o.department))}::text[]) AS o(email, name, department)
        ON CONFLICT DO NOTHING`);
      // Created here or, meanwhile, by someone else: found by email either way.
      const found = await tx
        .select({ id: salesOwners.id, email: salesOwners.email })
        .from(salesOwners)
        .where(sql`lower(${salesOwners.email}) = ANY(${col(toCreate.map(([email]) => email))}::text[])`);
      for (const o of found) this.owners.get(o.email.toLowerCase())!.id = o.id;
      this.written = true;
    }
    const managerId = (email: string) => {
      const manager = this.owners.get(email)!.managerEmail;
      return manager === null ? undefined : this.owners.get(manager)!.id!;
    };
    for (const email of this.ownersUpdated) {
      const o = this.owners.get(email)!;
      await tx
        .update(salesOwners)
        .set({ name: o.name, department: o.department, managerId: managerId(email), version: sql`${salesOwners.version} + 1`, updatedAt: now })
        .where(eq(salesOwners.id, o.id!));
      this.managersSet.delete(email);
      this.written = true;
    }
    // The managers of owners created here: set once every owner they name has an id (a manager may be
    // created in the same batch), as part of their creation (no new version).
    for (const email of this.managersSet) {
      await tx
        .update(salesOwners)
        .set({ managerId: managerId(email) })
        .where(eq(salesOwners.id, this.owners.get(email)!.id!));
    }
    this.managersSet.clear();
    this.ownersUpdated.clear();
    return (email: string) => this.owners.get(email)!.id!;
  }
}

/** Adds the domains; one a concurrent request gave another customer meanwhile is left out. The names added. */
async function insertDomainRows(tx: Db, programId: string, rows: { customerId: string; ascii: string; unicode: string }[], now: Date): Promise<Set<string>> {
  const added = new Set<string>();
  for (const b of chunk(rows, 5000)) {
    const inserted = await tx.execute(sql`
      INSERT INTO domains (program_id, customer_id, name, display_name, next_check_at, created_at, updated_at)
      SELECT ${programId}, d.customer_id, d.name, d.display_name, ${now}, ${now}, ${now}
      FROM unnest(${col(b.map((d) => d.customerId))}::uuid[], ${col(b.map((d) => d.ascii))}::text[], ${col(b.map((d) => d.unicode))}::text[])
        AS d(customer_id, name, display_name)
      ON CONFLICT (program_id, name) WHERE archived_at IS NULL DO NOTHING
      RETURNING name`);
    for (const r of rowsOf<{ name: string }>(inserted)) added.add(r.name);
  }
  return added;
}
