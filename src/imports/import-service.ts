import { and, eq, isNull, sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../../db/client.ts';
import { customers, domains, programs, salesOwners } from '../../db/schema/index.ts';
import { customerStatuses, type CustomerStatus } from '../../db/schema/enums.ts';
import { appendAudits, type Actor, type AuditEntry } from '../audit/audit-repository.ts';
import { chunk } from '../batches.ts';
import { insertImportedCustomers, updateCustomersAtVersion } from '../customers/customer-writer.ts';
import { decideTransition } from '../customers/customer-workflow.ts';
import { normalizeDnsName } from '../dns/dns-name.ts';
import { AppError, errors } from '../errors.ts';
import { unstorable } from '../http/text-guard.ts';
import { moveOpenTasksWithCustomers } from '../tasks/task-service.ts';
import { CsvReadError, readCsv, type CsvEncoding } from './import-csv.ts';

export const importColumns = [
  'external_ref',
  'customer_name',
  'domains',
  'sales_owner_email',
  'sales_owner_name',
  'department',
  'status',
  'planned_migration_at',
] as const;
type Column = (typeof importColumns)[number];
const requiredColumns: Column[] = ['external_ref', 'customer_name', 'sales_owner_email'];

export interface ImportError {
  line: number;
  column: Column | null;
  message: string;
}

export interface ImportOptions {
  dryRun: boolean;
  /** Default true: any error and nothing is written. false: valid rows are written, bad ones reported. */
  allOrNothing: boolean;
  encoding: CsvEncoding | 'auto';
  maxBytes: number;
  onProgress?: (rowsRead: number) => void;
}

/** A row the import planned but did not write, because someone changed the customer meanwhile. */
export interface ImportConflict {
  line: number;
  externalRef: string;
  message: string;
}

export interface ImportResult {
  created: number;
  updated: number;
  unchanged: number;
  ownersCreated: number;
  ownersUpdated: number;
  domainsAdded: number;
  errors: ImportError[];
  /** Rows left alone because the customer changed between planning and writing (nothing of theirs was lost). */
  conflicts: ImportConflict[];
  dryRun: boolean;
  /** Whether anything was written. */
  written: boolean;
}

interface Row {
  line: number;
  externalRef: string;
  name: string;
  email: string;
  ownerName?: string;
  department?: string;
  status?: CustomerStatus;
  plannedMigrationAt?: string;
  domains: { ascii: string; unicode: string }[];
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const initialStatuses = customerStatuses.filter((s) => s !== 'on_hold' && s !== 'completed');

/** `2022-09-30`, `2022/9/30` (what Excel writes in Japan) → `2022-09-30`; undefined when not a real date. */
export function parseCsvDate(value: string): string | undefined {
  const m = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$/.exec(value);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  return date.toISOString().slice(0, 10);
}

/** Validates one record; every problem is reported with its column. */
function parseRow(line: number, fields: string[], index: Map<Column, number>, problems: ImportError[]): Row | undefined {
  const cell = (c: Column) => (index.has(c) ? (fields[index.get(c)!] ?? '').trim() : '');
  const fail = (column: Column | null, message: string) => problems.push({ line, column, message });
  const before = problems.length;
  if (fields.length > index.size) fail(null, `has ${fields.length} fields; the header has ${index.size}`);
  // Text PostgreSQL cannot store is found here, by the dry run too, not by the write.
  for (const [column, at] of index) {
    const why = unstorable(fields[at] ?? '');
    if (why) fail(column, why);
  }
  if (problems.length > before) return undefined;
  const externalRef = cell('external_ref');
  const name = cell('customer_name');
  const email = cell('sales_owner_email').toLowerCase();
  if (!externalRef) fail('external_ref', 'is empty');
  else if (externalRef.length > 200) fail('external_ref', 'is longer than 200 characters');
  if (!name) fail('customer_name', 'is empty');
  else if (name.length > 300) fail('customer_name', 'is longer than 300 characters');
  if (!EMAIL.test(email) || email.length > 254) fail('sales_owner_email', `"${email.slice(0, 80)}" is not an email address`);
  const status = cell('status');
  if (status && !(customerStatuses as readonly string[]).includes(status)) {
    fail('status', `"${status.slice(0, 40)}" is not a status (one of ${customerStatuses.join(', ')})`);
  }
  const plannedRaw = cell('planned_migration_at');
  const planned = plannedRaw ? parseCsvDate(plannedRaw) : undefined;
  if (plannedRaw && !planned) fail('planned_migration_at', `"${plannedRaw.slice(0, 40)}" is not a date (YYYY-MM-DD or YYYY/MM/DD)`);
  const domainList: Row['domains'] = [];
  for (const raw of cell('domains').split(/[\s;]+/).filter(Boolean)) {
    const normalized = normalizeDnsName(raw);
    if (!normalized.ok) fail('domains', `"${raw.slice(0, 80)}" ${normalized.reason}`);
    else if (!domainList.some((d) => d.ascii === normalized.ascii)) domainList.push({ ascii: normalized.ascii, unicode: normalized.unicode });
  }
  const ownerName = cell('sales_owner_name');
  const department = cell('department');
  if (ownerName.length > 200) fail('sales_owner_name', 'is longer than 200 characters');
  if (department.length > 100) fail('department', 'is longer than 100 characters');
  if (problems.length > before) return undefined;
  return {
    line,
    externalRef,
    name,
    email,
    ...(ownerName ? { ownerName } : {}),
    ...(department ? { department } : {}),
    ...(status ? { status: status as CustomerStatus } : {}),
    ...(planned ? { plannedMigrationAt: planned } : {}),
    domains: domainList,
  };
}

type CustomerRow = typeof customers.$inferSelect;
type Plan = {
  ownersToCreate: Map<string, { name: string; department: string }>;
  ownersToUpdate: Map<string, { id: string; name: string; department: string }>;
  creates: Row[];
  /** `ownerChanged`: the row names another owner (maybe one this import creates, so no id yet). */
  updates: { row: Row; current: CustomerRow; changes: Partial<CustomerRow>; ownerChanged: boolean; addDomains: Row['domains'] }[];
  unchanged: number;
};

/**
 * Imports the legacy customer list of a program: upsert by external ref, owners by email, domains
 * added (never removed). Streamed parse; planned against the database; written in one transaction
 * with batched statements.
 */
export async function importCustomers(
  db: Db,
  programId: string,
  source: AsyncIterable<Buffer | string>,
  options: ImportOptions,
  actor: Actor,
  now: Date,
): Promise<ImportResult> {
  const [program] = await db.select({ id: programs.id }).from(programs).where(eq(programs.id, programId));
  if (!program) throw errors.programNotFound(programId);

  const problems: ImportError[] = [];
  const rows: Row[] = [];
  let index: Map<Column, number> | undefined;
  try {
    for await (const record of readCsv(source, { encoding: options.encoding, maxBytes: options.maxBytes })) {
      if (!index) {
        index = readHeader(record.fields, problems);
        if (!index) break;
        continue;
      }
      const row = parseRow(record.line, record.fields, index, problems);
      if (row) rows.push(row);
      if ((rows.length + problems.length) % 1000 === 0) options.onProgress?.(rows.length);
    }
  } catch (err) {
    if (!(err instanceof CsvReadError)) throw err;
    if (err.kind === 'too_large') throw new AppError('APP_BODY_TOO_LARGE', 413, err.message);
    problems.push({ line: err.line, column: null, message: err.message });
  }
  if (!index && problems.length === 0) problems.push({ line: 1, column: null, message: 'the file is empty; expected a header row' });
  options.onProgress?.(rows.length);

  // A dry run plans and returns; a real import plans and writes in one transaction that holds the
  // program's import lock, so a second import of the same program meanwhile gets a 409.
  const run = async (tx: Db) => {
    const plan = await planImport(tx, programId, rows, problems);
    const failedLines = new Set(problems.map((p) => p.line));
    const result: ImportResult = {
      created: plan.creates.length,
      updated: plan.updates.length,
      unchanged: plan.unchanged,
      ownersCreated: plan.ownersToCreate.size,
      ownersUpdated: plan.ownersToUpdate.size,
      domainsAdded: plan.creates.reduce((n, r) => n + r.domains.length, 0) + plan.updates.reduce((n, u) => n + u.addDomains.length, 0),
      errors: problems.sort((a, b) => a.line - b.line),
      conflicts: [],
      dryRun: options.dryRun,
      written: false,
    };
    if (options.dryRun || (problems.length > 0 && options.allOrNothing) || failedLines.has(1)) return result;
    if (result.created + result.updated + result.ownersCreated + result.ownersUpdated === 0) return result;
    await applyImport(tx, programId, plan, actor, now, result);
    return { ...result, written: true };
  };
  if (options.dryRun) return run(db);
  const result = await db.transaction(async (tx) => {
    await lockProgramImports(tx, programId);
    return run(tx);
  });
  if (result.written && result.created + result.domainsAdded >= ANALYZE_AFTER_ROWS) {
    // Fresh statistics at once, not at autovacuum's next round: until then PostgreSQL plans the
    // next sweep's and reports' queries as if the new rows were not there. Advisory: the import is
    // committed whatever happens here, and autovacuum analyzes the tables later anyway.
    await db.execute(sql`ANALYZE customers, domains, sales_owners`).catch(() => {});
  }
  return result;
}

/** One import per program at a time: a transaction-scoped advisory lock, or a 409 at once. */
async function lockProgramImports(tx: Db, programId: string) {
  const [got] = rowsOf<{ locked: boolean }>(await tx.execute(sql`SELECT pg_try_advisory_xact_lock(hashtextextended(${`mdt:import:${programId}`}, 0)) AS locked`));
  if (!got?.locked) {
    throw new AppError('APP_IMPORT_RUNNING', 409, `Another import into program ${programId} is running; send this one again when it has finished`);
  }
}

/** Rows an import must add before it refreshes the planner's statistics itself. */
const ANALYZE_AFTER_ROWS = 1000;

function readHeader(fields: string[], problems: ImportError[]): Map<Column, number> | undefined {
  const index = new Map<Column, number>();
  fields.forEach((raw, i) => {
    const name = raw.trim().toLowerCase();
    if ((importColumns as readonly string[]).includes(name)) {
      if (index.has(name as Column)) problems.push({ line: 1, column: name as Column, message: 'appears twice in the header' });
      index.set(name as Column, i);
    } else if (name) {
      problems.push({ line: 1, column: null, message: `unknown column "${raw.slice(0, 40)}" (expected ${importColumns.join(', ')})` });
    }
  });
  const missing = requiredColumns.filter((c) => !index.has(c));
  for (const column of missing) problems.push({ line: 1, column, message: 'is missing from the header' });
  return problems.some((p) => p.line === 1) ? undefined : index;
}

/** Decides what each row does, against the database; conflicts become errors of the later row. */
async function planImport(db: Db, programId: string, rows: Row[], problems: ImportError[]): Promise<Plan> {
  const existing = new Map((await db.select().from(customers).where(eq(customers.programId, programId))).map((c) => [c.externalRef, c]));
  const domainOwner = new Map(
    (await db.select({ name: domains.name, customerId: domains.customerId, verdict: domains.latestVerdict }).from(domains).where(and(eq(domains.programId, programId), isNull(domains.archivedAt)))).map((d) => [d.name, d]),
  );
  const verdictsOf = new Map<string, (string | null)[]>();
  for (const d of domainOwner.values()) verdictsOf.set(d.customerId, [...(verdictsOf.get(d.customerId) ?? []), d.verdict]);
  const owners = new Map((await db.select().from(salesOwners)).map((o) => [o.email.toLowerCase(), o]));
  const plan: Plan = { ownersToCreate: new Map(), ownersToUpdate: new Map(), creates: [], updates: [], unchanged: 0 };
  const seenRefs = new Map<string, number>();
  const seenDomains = new Map<string, number>();
  const ownerDefinedAt = new Map<string, { name?: string; department?: string; line: number }>();

  for (const row of rows) {
    const fail = (column: Column | null, message: string) => problems.push({ line: row.line, column, message });
    const before = problems.length;
    const firstRef = seenRefs.get(row.externalRef);
    if (firstRef !== undefined) fail('external_ref', `${row.externalRef} already appears on line ${firstRef}`);
    seenRefs.set(row.externalRef, row.line);

    // Owners: the first row that names an owner's name or department sets it; a later row may not disagree.
    const defined = ownerDefinedAt.get(row.email);
    for (const [field, column] of [['name', 'sales_owner_name'], ['department', 'department']] as const) {
      const value = field === 'name' ? row.ownerName : row.department;
      if (value && defined?.[field] && defined[field] !== value) {
        fail(column, `disagrees with line ${defined.line} for ${row.email} ("${defined[field]}")`);
      }
    }
    const owner = owners.get(row.email);
    if (owner && !owner.active) fail('sales_owner_email', `${row.email} is an inactive sales owner`);
    if (!owner && !plan.ownersToCreate.has(row.email) && (!row.ownerName || !row.department)) {
      if (!row.ownerName) fail('sales_owner_name', `is needed to create the new sales owner ${row.email}`);
      if (!row.department) fail('department', `is needed to create the new sales owner ${row.email}`);
    }

    const current = existing.get(row.externalRef);
    const newDomains: Row['domains'] = [];
    for (const d of row.domains) {
      const other = seenDomains.get(d.ascii);
      if (other !== undefined) fail('domains', `${d.unicode} already appears on line ${other}`);
      const holder = domainOwner.get(d.ascii);
      if (holder && holder.customerId !== current?.id) fail('domains', `${d.unicode} already belongs to another customer of this program`);
      if (!holder) newDomains.push(d);
    }

    let changes: Partial<CustomerRow> = {};
    if (current && row.status && row.status !== current.status) {
      const decision = decideTransition({ from: current.status, to: row.status, statusBeforeHold: current.statusBeforeHold, role: 'admin', domainVerdicts: verdictsOf.get(current.id) ?? [] });
      if (!decision.ok) fail('status', `${current.status} → ${row.status}: ${decision.message}`);
      else changes = { status: row.status, statusBeforeHold: row.status === 'on_hold' ? current.status : null };
    }
    if (!current && row.status && !(initialStatuses as readonly CustomerStatus[]).includes(row.status)) {
      fail('status', `a new customer cannot start as ${row.status} (one of ${initialStatuses.join(', ')})`);
    }
    if (problems.length > before) continue;

    // The row is valid: record its effects.
    for (const d of row.domains) seenDomains.set(d.ascii, row.line);
    ownerDefinedAt.set(row.email, {
      name: defined?.name ?? row.ownerName,
      department: defined?.department ?? row.department,
      line: defined?.line ?? row.line,
    });
    if (!owner && !plan.ownersToCreate.has(row.email)) plan.ownersToCreate.set(row.email, { name: row.ownerName!, department: row.department! });
    if (owner && ((row.ownerName && row.ownerName !== owner.name) || (row.department && row.department !== owner.department))) {
      plan.ownersToUpdate.set(row.email, { id: owner.id, name: row.ownerName ?? owner.name, department: row.department ?? owner.department });
    }
    if (!current) {
      plan.creates.push(row);
      continue;
    }
    if (row.name !== current.name) changes.name = row.name;
    const ownerChanged = owner?.id !== current.salesOwnerId;
    if (row.plannedMigrationAt && row.plannedMigrationAt !== current.plannedMigrationAt) changes.plannedMigrationAt = row.plannedMigrationAt;
    if (Object.keys(changes).length === 0 && !ownerChanged && newDomains.length === 0) plan.unchanged++;
    else plan.updates.push({ row, current, changes, ownerChanged, addDomains: newDomains });
  }
  return plan;
}

const BATCH = 5000;

/** One array bound as a single parameter (drizzle would otherwise spread it into a list). */
const col = (values: unknown[]) => sql.param(values);

/*
 * Bulk writes send one array per column and let PostgreSQL unnest them: one statement and a handful
 * of parameters per batch, instead of building a statement with thousands of bound values.
 */

/** Adds the domains; one a concurrent request gave another customer meanwhile is left out. The names added. */
async function insertDomainRows(tx: Db, programId: string, rows: { customerId: string; ascii: string; unicode: string }[], now: Date): Promise<Set<string>> {
  const added = new Set<string>();
  for (const b of chunk(rows, BATCH)) {
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

async function applyImport(tx: Db, programId: string, plan: Plan, actor: Actor, now: Date, result: ImportResult) {
  const ownerIds = new Map<string, string>();
  for (const b of chunk([...plan.ownersToCreate], BATCH)) {
    const created = await tx.execute(sql`
      INSERT INTO sales_owners (email, name, department, created_at, updated_at)
      SELECT o.email, o.name, o.department, ${now}, ${now}
      FROM unnest(${col(b.map(([email]) => email))}::text[], ${col(b.map(([, o]) => o.name))}::text[], ${col(b.map(([, o]) => o.department))}::text[]) AS o(email, name, department)
      ON CONFLICT DO NOTHING
      RETURNING id, email`);
    // An owner created meanwhile by someone else is found below with the others.
    for (const o of rowsOf<{ id: string; email: string }>(created)) ownerIds.set(o.email, o.id);
  }
  for (const [email, o] of plan.ownersToUpdate) {
    await tx
      .update(salesOwners)
      .set({ name: o.name, department: o.department, version: sql`${salesOwners.version} + 1`, updatedAt: now })
      .where(eq(salesOwners.id, o.id));
    ownerIds.set(email, o.id);
  }
  const existingOwners = await tx.select({ id: salesOwners.id, email: salesOwners.email }).from(salesOwners);
  for (const o of existingOwners) if (!ownerIds.has(o.email.toLowerCase())) ownerIds.set(o.email.toLowerCase(), o.id);

  const audit: AuditEntry[] = [];
  const newDomains: (Parameters<typeof insertDomainRows>[2][number] & { line: number; externalRef: string })[] = [];
  const conflict = (row: Row, message: string) => result.conflicts.push({ line: row.line, externalRef: row.externalRef, message });

  const creates = plan.creates.map((row) => ({
    row,
    customer: { externalRef: row.externalRef, name: row.name, salesOwnerId: ownerIds.get(row.email)!, status: row.status ?? 'not_contacted', plannedMigrationAt: row.plannedMigrationAt ?? null, note: `import line ${row.line}` },
  }));
  const idOf = await insertImportedCustomers(tx, programId, creates.map((c) => c.customer), actor, now);
  for (const { row, customer } of creates) {
    const id = idOf.get(row.externalRef);
    if (id === undefined) {
      conflict(row, 'a customer with this external_ref was created meanwhile; import the file again to update it');
      continue;
    }
    for (const d of row.domains) newDomains.push({ customerId: id, ...d, line: row.line, externalRef: row.externalRef });
    const { note: _, ...after } = customer;
    audit.push({ action: 'customer.import', entityType: 'customer', entityId: id, after: { ...after, domains: row.domains.map((d) => d.ascii), line: row.line } });
  }

  const updates = plan.updates.map((u) => {
    if (u.ownerChanged) u.changes.salesOwnerId = ownerIds.get(u.row.email)!;
    return { ...u, next: { ...u.current, ...u.changes }, note: `import line ${u.row.line}` };
  });
  const written = await updateCustomersAtVersion(tx, updates, actor, now);
  const applied = updates.filter((u) => written.has(u.current.id));
  for (const u of updates) if (!written.has(u.current.id)) conflict(u.row, 'the customer changed while the import ran (a status change, reassignment or edit); nothing of that change was overwritten');
  // Open tasks follow the customer to its new owner, as with /reassign.
  await moveOpenTasksWithCustomers(
    tx,
    applied.filter((u) => u.ownerChanged).map((u) => ({ customerId: u.current.id, fromOwnerId: u.current.salesOwnerId, toOwnerId: u.next.salesOwnerId })),
    now,
  );
  for (const u of applied) {
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

  const domainsAdded = await insertDomainRows(tx, programId, newDomains, now);
  for (const d of newDomains) {
    if (!domainsAdded.has(d.ascii)) result.conflicts.push({ line: d.line, externalRef: d.externalRef, message: `${d.unicode} was added to another customer meanwhile; it stays there` });
  }
  Object.assign(result, { created: idOf.size, updated: applied.length, domainsAdded: domainsAdded.size });
  result.conflicts.sort((a, b) => a.line - b.line);
  audit.push({
    action: 'program.import',
    entityType: 'program',
    entityId: programId,
    after: { created: result.created, updated: result.updated, unchanged: result.unchanged, ownersCreated: result.ownersCreated, ownersUpdated: result.ownersUpdated, domainsAdded: result.domainsAdded, errors: result.errors.length, conflicts: result.conflicts.length },
  });
  await appendAudits(tx, actor, audit, now);
}
