import { isDeepStrictEqual } from 'node:util';
import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { salesOwners } from '../../db/schema/index.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import { errors, validationError, type FieldError } from '../errors.ts';
import { assertVersion } from '../lib/versions.ts';
import { cursorInstant, decodeCursor, toPage } from '../lib/cursor.ts';
import { enqueueInOutbox } from '../outbox/outbox-repository.ts';
import { z } from 'zod';
import {
  findProgramById,
  insertProgram,
  listPrograms as selectPrograms,
  updateProgramAtVersion,
  type ProgramRow,
  type ProgramValues,
} from './program-repository.ts';
import { CADENCE_DEFAULTS, type CreateProgram, type PatchProgram, type Program } from './program-schemas.ts';

export function toProgram(row: ProgramRow): Program {
  return {
    id: row.id,
    name: row.name,
    legacyService: row.legacyService,
    successorService: row.successorService,
    shutdownAt: row.shutdownAt,
    spfRecordDeletionAt: row.spfRecordDeletionAt,
    timezone: row.timezone,
    legacy: {
      mxHostSuffixes: row.legacyMxHostSuffixes,
      spfIncludes: row.legacySpfIncludes,
      dkimSelectors: row.legacyDkimSelectors,
      dkimTargets: row.legacyDkimTargets,
    },
    successor: {
      mxHostSuffixes: row.successorMxHostSuffixes,
      spfIncludes: row.successorSpfIncludes,
      dkimSelectors: row.successorDkimSelectors,
      dkimTargets: row.successorDkimTargets,
    },
    reminderOffsetsDays: row.reminderOffsetsDays,
    checkCadence: {
      actionHours: row.checkIntervalActionHours,
      cleanHours: row.checkIntervalCleanHours,
      completedHours: row.checkIntervalCompletedHours,
      urgentWindowDays: row.urgentWindowDays,
      urgentIntervalHours: row.urgentIntervalHours,
    },
    autoProgress: row.autoProgress,
    escalateAfterDays: row.escalateAfterDays,
    escalationContactId: row.escalationContactId,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Rules across fields, checked on the whole program as it would be stored. */
function checkProgramRules(values: ProgramValues): FieldError[] {
  const problems: FieldError[] = [];
  if (values.spfRecordDeletionAt && values.spfRecordDeletionAt <= values.shutdownAt) {
    problems.push({
      path: 'body.spfRecordDeletionAt',
      message: `must be after shutdownAt (${values.shutdownAt}): the legacy SPF record is deleted after the service ends`,
    });
  }
  if ((values.legacyMxHostSuffixes?.length ?? 0) + (values.legacySpfIncludes?.length ?? 0) === 0) {
    problems.push({
      path: 'body.legacy',
      message: 'needs at least one legacy identifier (an MX host suffix or an SPF include), or no domain can be judged',
    });
  }
  return problems;
}

const identifierColumns = [
  'legacyMxHostSuffixes',
  'legacySpfIncludes',
  'legacyDkimSelectors',
  'legacyDkimTargets',
  'successorMxHostSuffixes',
  'successorSpfIncludes',
  'successorDkimSelectors',
  'successorDkimTargets',
] as const;

export async function createProgram(db: Db, input: CreateProgram, actor: Actor, now: Date): Promise<Program> {
  const values: ProgramValues = {
    name: input.name,
    legacyService: input.legacyService,
    successorService: input.successorService,
    shutdownAt: input.shutdownAt,
    spfRecordDeletionAt: input.spfRecordDeletionAt ?? null,
    timezone: input.timezone,
    legacyMxHostSuffixes: input.legacy.mxHostSuffixes,
    legacySpfIncludes: input.legacy.spfIncludes,
    successorMxHostSuffixes: input.successor.mxHostSuffixes,
    successorSpfIncludes: input.successor.spfIncludes,
    legacyDkimSelectors: input.legacy.dkimSelectors,
    legacyDkimTargets: input.legacy.dkimTargets,
    successorDkimSelectors: input.successor.dkimSelectors,
    successorDkimTargets: input.successor.dkimTargets,
    reminderOffsetsDays: input.reminderOffsetsDays,
    ...cadenceColumns({ ...CADENCE_DEFAULTS, ...input.checkCadence }),
    autoProgress: input.autoProgress,
    escalateAfterDays: input.escalateAfterDays,
    escalationContactId: input.escalationContactId ?? null,
  };
  const problems = checkProgramRules(values);
  if (problems.length > 0) throw validationError(problems);
  return db.transaction(async (tx) => {
    await checkEscalationContact(tx, values.escalationContactId);
    const row = await insertProgram(tx, values, now);
    const program = toProgram(row);
    await appendAudit(tx, actor, { action: 'program.create', entityType: 'program', entityId: row.id, after: program }, now);
    return program;
  });
}

export async function getProgram(db: Db, id: string): Promise<Program> {
  const row = await findProgramById(db, id);
  if (!row) throw errors.programNotFound(id);
  return toProgram(row);
}

const ProgramCursor = z.tuple([cursorInstant, z.uuid()]);

export async function listPrograms(db: Db, limit: number, cursor?: string) {
  const after = cursor ? decodeCursor(cursor, ProgramCursor) : undefined;
  const rows = await selectPrograms(db, limit + 1, after && { createdAt: new Date(after[0]), id: after[1] });
  return toPage(rows, limit, toProgram, (row) => [row.createdAt.toISOString(), row.id]);
}

/**
 * Applies a partial change if the program is still at `expectedVersion` (null: any version). When the
 * identifiers change, every domain of the program is marked due for a fresh check (via the outbox).
 */
export async function updateProgram(db: Db, id: string, patch: PatchProgram, expectedVersion: number | null, actor: Actor, now: Date): Promise<Program> {
  return db.transaction(async (tx) => {
    const current = await findProgramById(tx, id, { forUpdate: true });
    if (!current) throw errors.programNotFound(id);
    assertVersion(expectedVersion, current.version);
    const { id: _id, version: _v, createdAt: _c, updatedAt: _u, ...currentValues } = current;
    const next: ProgramValues = {
      ...currentValues,
      ...pick(patch, ['name', 'legacyService', 'successorService', 'shutdownAt', 'spfRecordDeletionAt', 'timezone', 'reminderOffsetsDays']),
      legacyMxHostSuffixes: patch.legacy?.mxHostSuffixes ?? current.legacyMxHostSuffixes,
      legacySpfIncludes: patch.legacy?.spfIncludes ?? current.legacySpfIncludes,
      successorMxHostSuffixes: patch.successor?.mxHostSuffixes ?? current.successorMxHostSuffixes,
      successorSpfIncludes: patch.successor?.spfIncludes ?? current.successorSpfIncludes,
      legacyDkimSelectors: patch.legacy?.dkimSelectors ?? current.legacyDkimSelectors,
      legacyDkimTargets: patch.legacy?.dkimTargets ?? current.legacyDkimTargets,
      successorDkimSelectors: patch.successor?.dkimSelectors ?? current.successorDkimSelectors,
      successorDkimTargets: patch.successor?.dkimTargets ?? current.successorDkimTargets,
      ...(patch.checkCadence ? cadenceColumns({ ...toProgram(current).checkCadence, ...patch.checkCadence }) : {}),
      ...pick(patch, ['autoProgress', 'escalateAfterDays', 'escalationContactId']),
    };
    const problems = checkProgramRules(next);
    if (problems.length > 0) throw validationError(problems);
    if (isDeepStrictEqual(next, currentValues)) return toProgram(current);
    if (patch.escalationContactId) await checkEscalationContact(tx, patch.escalationContactId);

    const row = await updateProgramAtVersion(tx, id, current.version, next, now);
    if (!row) throw errors.versionMismatch(current.version, 'newer');
    const before = toProgram(current);
    const after = toProgram(row);
    await appendAudit(tx, actor, { action: 'program.update', entityType: 'program', entityId: id, before, after }, now);
    if (identifierColumns.some((c) => !isDeepStrictEqual(current[c], row[c]))) {
      await enqueueInOutbox(tx, 'programs', 'mark-domains-due', { programId: id, reason: 'identifiers changed' }, `program-${id}-v${row.version}`, now);
    }
    return after;
  });
}

async function checkEscalationContact(db: Db, id: string | null | undefined) {
  if (!id) return;
  const [owner] = await db.select({ id: salesOwners.id }).from(salesOwners).where(eq(salesOwners.id, id));
  if (!owner) throw validationError([{ path: 'body.escalationContactId', message: `no sales owner ${id}` }]);
}

function cadenceColumns(c: typeof CADENCE_DEFAULTS) {
  return {
    checkIntervalActionHours: c.actionHours,
    checkIntervalCleanHours: c.cleanHours,
    checkIntervalCompletedHours: c.completedHours,
    urgentWindowDays: c.urgentWindowDays,
    urgentIntervalHours: c.urgentIntervalHours,
  };
}

function pick<T extends object, K extends keyof T>(obj: T, keys: K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]])) as Partial<Pick<T, K>>;
}
