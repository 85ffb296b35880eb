import { and, asc, desc, eq, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { col, type Db, rowsOf } from '../../db/client.ts';
import { dnsChecks, programs, tasks } from '../../db/schema/index.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import { addDays, dayDiff, localDate, startOfDayIn } from '../lib/calendar.ts';
import { errors, validationError } from '../errors.ts';
import { cursorInstant, decodeCursor, toPage } from '../lib/cursor.ts';
import { taskScope, type Viewer } from '../access/access.ts';
import { recordEscalations } from '../notifications/notification-service.ts';

/*
 * The one module that writes `tasks` (test/table-owners.test.ts keeps it so): reminders and clean-up
 * tasks from the schedule, the tasks a DNS check opens, escalations, closing (a final customer, a clean
 * domain, a rep's complete or dismiss), and reassignment when customers change hands.
 */

export type TaskRow = typeof tasks.$inferSelect;

export const toTask = (row: TaskRow, now: Date) => ({
  id: row.id,
  programId: row.programId,
  customerId: row.customerId,
  domainId: row.domainId,
  assigneeId: row.assigneeId,
  kind: row.kind,
  milestone: row.milestone,
  status: row.status,
  title: row.title,
  details: row.details as Record<string, unknown>,
  dueAt: row.dueAt.toISOString(),
  snoozedUntil: row.snoozedUntil?.toISOString() ?? null,
  overdue: row.status === 'open' && row.dueAt < now && !(row.snoozedUntil && row.snoozedUntil > now),
  escalatedFromId: row.escalatedFromId,
  closedAt: row.closedAt?.toISOString() ?? null,
  closeReason: row.closeReason,
  createdAt: row.createdAt.toISOString(),
});

/*
 * Writers that change several tasks lock them in id order (a subquery with ORDER BY … FOR NO KEY
 * UPDATE locks rows as it emits them): a handover and an import closing the same tasks then wait for
 * each other instead of deadlocking.
 */
const openInIdOrder = (db: Db, where: SQL) =>
  db
    .select({ id: tasks.id })
    .from(tasks)
    .where(and(eq(tasks.status, 'open'), where))
    .orderBy(tasks.id)
    .for('no key update');

/** Closes the open tasks matching `where`, and escalations of tasks no longer open. */
export async function closeTasks(db: Db, where: SQL, reason: string, now: Date) {
  const closed = await db
    .update(tasks)
    .set({ status: 'closed', closedAt: now, closeReason: reason, updatedAt: now })
    .where(inArray(tasks.id, openInIdOrder(db, where)))
    .returning({ id: tasks.id });
  await closeEscalationsOf(
    db,
    closed.map((c) => c.id),
    now,
  );
  return closed.length;
}

/** Escalations of tasks no longer open are closed with them. */
async function closeEscalationsOf(db: Db, taskIds: string[], now: Date) {
  if (taskIds.length === 0) return;
  await db
    .update(tasks)
    .set({ status: 'closed', closedAt: now, closeReason: 'the escalated task is closed', updatedAt: now })
    .where(and(eq(tasks.status, 'open'), inArray(tasks.escalatedFromId, taskIds)));
}

/** Customers reaching a final state close their open reminders and clean-up tasks. */
export async function closeTasksOfFinalCustomers(db: Db, moves: { customerId: string; status: string }[], now: Date) {
  for (const status of new Set(moves.map((m) => m.status))) {
    const ids = moves.filter((m) => m.status === status).map((m) => m.customerId);
    await closeTasks(db, sql`${tasks.customerId} = ANY(${sql.param(ids)}::uuid[]) AND ${tasks.kind} IN ('reminder', 'spf_cleanup')`, `customer ${status}`, now);
  }
}

/** Open tasks follow their customers to a new owner (a reassignment, or an import that names another owner). */
export async function moveOpenTasksWithCustomers(db: Db, moves: { customerId: string; fromOwnerId: string; toOwnerId: string }[], now: Date) {
  if (moves.length === 0) return;
  await db.execute(sql`
    UPDATE tasks AS t SET assignee_id = m.to_owner, updated_at = ${now}
    FROM unnest(${col(moves.map((m) => m.customerId))}::uuid[], ${col(moves.map((m) => m.fromOwnerId))}::uuid[], ${col(moves.map((m) => m.toOwnerId))}::uuid[])
      AS m(customer_id, from_owner, to_owner)
    WHERE t.customer_id = m.customer_id AND t.assignee_id = m.from_owner AND t.status = 'open'`);
}

/** A handover: every open task of one owner (escalations included) goes to another. The ids moved. */
export async function handOverOpenTasks(db: Db, fromOwnerId: string, toOwnerId: string, now: Date) {
  const moved = await db
    .update(tasks)
    .set({ assigneeId: toOwnerId, updatedAt: now })
    .where(inArray(tasks.id, openInIdOrder(db, eq(tasks.assigneeId, fromOwnerId))))
    .returning({ id: tasks.id });
  return moved.map((t) => t.id);
}

/** Opens a task a DNS check found a reason for, once per dedupe key. Whether it was opened now. */
async function openDomainTask(db: Db, task: Omit<typeof tasks.$inferInsert, 'id' | 'status' | 'createdAt' | 'updatedAt'>, now: Date) {
  const created = await db
    .insert(tasks)
    .values({ ...task, createdAt: now, updatedAt: now })
    .onConflictDoNothing({ target: tasks.dedupeKey })
    .returning({ id: tasks.id });
  return created.length > 0;
}

/** Customers none of whose domains references the legacy include any more need no clean-up task. */
export async function closeCleanupTasksIfClean(db: Db, customerIds: string[], now: Date) {
  if (customerIds.length === 0) return 0;
  return closeTasks(
    db,
    sql`${tasks.customerId} = ANY(${sql.param(customerIds)}::uuid[]) AND ${tasks.kind} = 'spf_cleanup' AND NOT EXISTS (SELECT 1 FROM domains d WHERE d.archived_at IS NULL AND d.customer_id = ${tasks.customerId} AND d.latest_verdict IN ('needs_spf_cleanup', 'needs_mx_and_spf'))`,
    'no domain references the legacy include any more',
    now,
  );
}

/** Closes the open tasks of one kind on the given domains, each with its own reason, and their escalations. */
async function closeDomainTasks(db: Db, kind: 'regression' | 'unable_to_verify', closing: { domainId: string; reason: string }[], now: Date) {
  if (closing.length === 0) return 0;
  const closed = rowsOf<{ id: string }>(
    await db.execute(sql`
      UPDATE ${tasks} t SET status = 'closed', closed_at = ${now}, close_reason = c.reason, updated_at = ${now}
      FROM jsonb_to_recordset(${JSON.stringify(closing)}::jsonb) AS c("domainId" uuid, reason text)
      WHERE t.domain_id = c."domainId" AND t.kind = ${kind} AND t.status = 'open'
      RETURNING t.id`),
  );
  await closeEscalationsOf(
    db,
    closed.map((c) => c.id),
    now,
  );
  return closed.length;
}

/** Failed checks in a row after which a domain gets an unable-to-verify task. */
const UNABLE_AFTER_FAILURES = 3;
/**
 * Days an unable-to-verify task is due after it opens. Due at once, it was overdue the moment it was
 * created and escalated escalateAfterDays later, though most failures in a row are a name server's or
 * a registrar's outage that the sweep's retries (5 minutes, doubling) see end by themselves, which
 * closes the task. Three days lets those pass, and leaves the owner a working day or two to ask the
 * customer about a domain that stays unanswerable.
 */
const UNABLE_DUE_DAYS = 3;

/** What the task rules need to know of one recorded DNS check of a domain. */
export interface CheckedDomain {
  programId: string;
  customerId: string;
  customerStatus: string;
  /** The customer's owner: whoever gets the task. */
  assigneeId: string;
  domainId: string;
  displayName: string;
  checkId: number;
  /** DNS answered well enough to judge. */
  determined: boolean;
  /** The verdict before this check, and the verdict the domain has now (the previous one if this check could not judge). */
  previousVerdict: string | null;
  verdict: string;
  /** This check's own verdict (`unknown` when it could not judge). */
  checkVerdict: string;
  unclean: boolean;
  /** Failed checks in a row, this one included; and whether there were any before it. */
  failures: number;
  failedBefore: boolean;
  lastDeterminedAt: Date | null;
  /** What to change, for a regression task's details. */
  instructions: unknown;
  /** The DNS errors of a check that could not judge, for an unable-to-verify task's details. */
  dnsErrors: string[];
}

/**
 * The tasks a batch of DNS checks opens and closes, in the checks' transaction. Closed: unable-to-verify
 * tasks of domains verified again, regression tasks of domains clean again, clean-up tasks of customers
 * none of whose domains references the legacy include any more (only what a check can have changed: one
 * that was clean already closed them at that check). Opened: a confirmed regression of a completed
 * customer, or too many failures in a row. Returns the kinds opened per domain.
 */
export async function applyCheckRules(tx: Db, checked: CheckedDomain[], now: Date): Promise<Map<string, string[]>> {
  await closeDomainTasks(
    tx,
    'unable_to_verify',
    checked.filter((c) => c.determined && c.failedBefore).map((c) => ({ domainId: c.domainId, reason: `verified by check ${c.checkId}` })),
    now,
  );
  const turnedClean = checked.filter((c) => c.verdict === 'clean' && c.previousVerdict !== 'clean');
  await closeDomainTasks(
    tx,
    'regression',
    turnedClean.map((c) => ({ domainId: c.domainId, reason: `clean again (check ${c.checkId})` })),
    now,
  );
  await closeCleanupTasksIfClean(tx, [...new Set(turnedClean.map((c) => c.customerId))], now);

  const opened = new Map<string, string[]>();
  for (const c of checked) {
    const kinds = await openCheckTasks(tx, c, now);
    if (kinds.length > 0) opened.set(c.domainId, kinds);
  }
  return opened;
}

/** The rare tasks one check opens: a confirmed regression of a completed customer, or too many failures in a row. */
async function openCheckTasks(tx: Db, c: CheckedDomain, now: Date): Promise<string[]> {
  const opened: string[] = [];
  const open = async (kind: 'regression' | 'unable_to_verify', dedupeKey: string, title: string, details: object, dueAt = now) => {
    const task = {
      programId: c.programId,
      customerId: c.customerId,
      domainId: c.domainId,
      assigneeId: c.assigneeId,
      kind,
      milestone: kind,
      dedupeKey,
      title,
      details,
      dueAt,
    };
    if (await openDomainTask(tx, task, now)) opened.push(kind);
  };
  // Regression: confirmed unclean on two determined checks in a row; flapping creates nothing.
  if (
    c.customerStatus === 'completed' &&
    c.determined &&
    c.unclean &&
    c.previousVerdict !== null &&
    c.previousVerdict !== 'clean' &&
    c.previousVerdict !== 'unknown'
  ) {
    const [start] = await tx
      .select({ id: dnsChecks.id })
      .from(dnsChecks)
      .where(and(eq(dnsChecks.domainId, c.domainId), eq(dnsChecks.verdictChanged, true), lt(dnsChecks.id, c.checkId)))
      .orderBy(desc(dnsChecks.id))
      .limit(1);
    await open('regression', `regression:${c.domainId}:${start?.id ?? c.checkId}`, `${c.displayName} is no longer clean (${c.checkVerdict})`, {
      verdict: c.checkVerdict,
      checkId: c.checkId,
      instructions: c.instructions,
    });
  }
  if (!c.determined && c.failures === UNABLE_AFTER_FAILURES) {
    await open(
      'unable_to_verify',
      `unable_to_verify:${c.domainId}:${c.lastDeterminedAt?.toISOString() ?? 'never'}`,
      `${c.displayName} could not be verified ${c.failures} times in a row`,
      { checkId: c.checkId, errors: c.dnsErrors },
      new Date(now.getTime() + UNABLE_DUE_DAYS * 86_400_000),
    );
  }
  return opened;
}

/**
 * Reminder tasks for one program, by its own calendar (time zone). Before the shutdown: the latest
 * reminder offset reached gives every customer not yet final one task for its owner (older offsets
 * are not caught up on: they would be stale). After it: a weekly SPF clean-up task per customer whose
 * domains still reference the legacy include, until the SPF-record deletion date. Dedupe keys make
 * every re-run create nothing; tasks whose condition cleared are closed.
 */
export async function createReminders(db: Db, now: Date, programId?: string) {
  const list = await db
    .select()
    .from(programs)
    .where(programId ? eq(programs.id, programId) : undefined);
  const summary = { created: 0, closed: 0 };
  for (const p of list) {
    const today = localDate(now, p.timezone);
    const daysLeft = dayDiff(p.shutdownAt, today);
    summary.closed += await closeClearedTasks(db, p.id, now);
    if (daysLeft >= 0) {
      const offsets = [...p.reminderOffsetsDays].sort((a, b) => a - b);
      const reached = offsets.filter((o) => daysLeft <= -o);
      if (reached.length === 0) continue;
      const offset = reached[reached.length - 1]!;
      const next = offsets.find((o) => o > offset);
      const dueAt = startOfDayIn(next === undefined ? p.shutdownAt : addDays(p.shutdownAt, next), p.timezone);
      const milestone = offset === 0 ? 'T-0' : `T${offset}`;
      const created = await insertCustomerTasks(
        db,
        p.id,
        'reminder',
        milestone,
        `${milestone}: ${daysLeft} days to the shutdown of ${p.legacyService} — `,
        dueAt,
        now,
        { daysLeft, shutdownAt: p.shutdownAt },
        sql`c.status NOT IN ('completed', 'declined', 'cancelled')`,
      );
      summary.created += created;
      summary.closed += await closeSupersededTasks(db, p.id, 'reminder', milestone, now);
    } else if (!p.spfRecordDeletionAt || today < p.spfRecordDeletionAt) {
      const week = Math.ceil(-daysLeft / 7);
      const dueAt = startOfDayIn(addDays(p.shutdownAt, week * 7 + 1), p.timezone);
      summary.created += await insertCustomerTasks(
        db,
        p.id,
        'spf_cleanup',
        `W${week}`,
        `Remove include:${p.legacySpfIncludes.join(', include:')} before the legacy SPF record is deleted — `,
        dueAt,
        now,
        { week, spfRecordDeletionAt: p.spfRecordDeletionAt },
        sql`c.status NOT IN ('declined', 'cancelled') AND EXISTS (SELECT 1 FROM domains d WHERE d.archived_at IS NULL AND d.customer_id = c.id AND d.latest_verdict IN ('needs_spf_cleanup', 'needs_mx_and_spf'))`,
      );
      summary.closed += await closeSupersededTasks(db, p.id, 'spf_cleanup', `W${week}`, now);
    }
  }
  return summary;
}

/**
 * A newer milestone supersedes the older ones: once a customer has its `milestone` task of this kind
 * (T-30, or clean-up week W3), its open tasks of the same kind for any other milestone close, with
 * their escalations, so a rep's list holds one current ask per customer instead of a pile of stale,
 * overdue ones. Milestones only move forward (reminders open for the latest offset reached, clean-up
 * weeks count up), so any other milestone is an older one, also one from offsets since removed.
 * The newer task is found by its dedupe key (unique index), whatever its state: a rep who already
 * completed T-30 needs no T-60 either.
 */
async function closeSupersededTasks(db: Db, programId: string, kind: 'reminder' | 'spf_cleanup', milestone: string, now: Date) {
  return closeTasks(
    db,
    sql`${tasks.programId} = ${programId} AND ${tasks.kind} = ${kind} AND ${tasks.milestone} <> ${milestone}
        AND EXISTS (SELECT 1 FROM tasks n WHERE n.dedupe_key = ${`${kind}:`} || ${tasks.customerId} || ${`:${milestone}`})`,
    `superseded by ${milestone}`,
    now,
  );
}

/** One task per matching customer of a program, in one statement; existing dedupe keys are skipped. */
async function insertCustomerTasks(
  db: Db,
  programId: string,
  kind: 'reminder' | 'spf_cleanup',
  milestone: string,
  titlePrefix: string,
  dueAt: Date,
  now: Date,
  extra: object,
  where: SQL,
) {
  const result = await db.execute(sql`
    INSERT INTO tasks (program_id, customer_id, assignee_id, kind, milestone, dedupe_key, title, details, due_at, created_at, updated_at)
    SELECT c.program_id, c.id, c.sales_owner_id, ${kind}, ${milestone}, ${`${kind}:`} || c.id || ${`:${milestone}`}, ${titlePrefix} || c.name,
      ${JSON.stringify(extra)}::jsonb || jsonb_build_object('milestone', ${milestone}::text, 'status', c.status, 'domainsNeedingAction',
        coalesce((SELECT jsonb_agg(jsonb_build_object('name', d.display_name, 'verdict', d.latest_verdict) ORDER BY d.name)
                  FROM domains d WHERE d.archived_at IS NULL AND d.customer_id = c.id AND d.latest_verdict IS DISTINCT FROM 'clean'), '[]'::jsonb)),
      ${dueAt}, ${now}, ${now}
    FROM customers c
    WHERE c.program_id = ${programId} AND ${where}
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id`);
  return rowsOf(result).length;
}

/** Reminders of final customers and clean-up tasks of customers with nothing left to clean close themselves. */
async function closeClearedTasks(db: Db, programId: string, now: Date) {
  const final = await closeTasks(
    db,
    sql`${tasks.programId} = ${programId} AND ${tasks.kind} IN ('reminder', 'spf_cleanup') AND ${tasks.customerId} IN (SELECT id FROM customers WHERE status IN ('completed', 'declined', 'cancelled'))`,
    'customer reached a final state',
    now,
  );
  const cleaned = await closeTasks(
    db,
    sql`${tasks.programId} = ${programId} AND ${tasks.kind} = 'spf_cleanup' AND NOT EXISTS (SELECT 1 FROM domains d WHERE d.archived_at IS NULL AND d.customer_id = ${tasks.customerId} AND d.latest_verdict IN ('needs_spf_cleanup', 'needs_mx_and_spf'))`,
    'no domain references the legacy include any more',
    now,
  );
  return final + cleaned;
}

/** Where a skipped escalation is reported: a logger's warn (pino's signature). */
export interface EscalationLog {
  warn(details: object, message: string): void;
}

/** Skipped escalations named in one log line, at most; all are counted. */
const SKIPPED_LISTED = 20;

/**
 * One escalation per open task overdue by the program's escalateAfterDays (snoozed ones wait), for
 * the owner's manager, or the program's escalation contact when the owner has none. Both are sales
 * owners, so a manager whose token is bound to their own record finds them with assignee=me; a
 * deactivated one counts as none (their token no longer works, so nobody would read it). With
 * neither, the task cannot be escalated: it is skipped and said so in a warning on every run, so an
 * operator sees it until someone sets a manager or the program's contact.
 */
export async function escalateTasks(db: Db, now: Date, programId?: string, log?: EscalationLog) {
  return db.transaction(async (tx) => {
    const overdue = sql`
      FROM tasks t JOIN sales_owners o ON o.id = t.assignee_id JOIN programs p ON p.id = t.program_id
        LEFT JOIN sales_owners m ON m.id = o.manager_id AND m.active
        LEFT JOIN sales_owners e ON e.id = p.escalation_contact_id AND e.active
      WHERE t.status = 'open' AND t.kind <> 'escalation' ${programId ? sql`AND t.program_id = ${programId}` : sql``}
        AND (t.snoozed_until IS NULL OR t.snoozed_until <= ${now})
        AND t.due_at + make_interval(days => p.escalate_after_days) < ${now}`;
    const result = await tx.execute(sql`
      INSERT INTO tasks (program_id, customer_id, domain_id, assignee_id, kind, milestone, dedupe_key, escalated_from_id, title, details, due_at, created_at, updated_at)
      SELECT t.program_id, t.customer_id, t.domain_id, coalesce(m.id, e.id), 'escalation', t.kind || ':' || t.milestone,
        'escalation:' || t.id, t.id, 'Overdue (' || o.name || '): ' || t.title,
        jsonb_build_object('taskId', t.id, 'ownerId', o.id, 'ownerName', o.name, 'dueAt', t.due_at), ${now}, ${now}, ${now}
      ${overdue} AND coalesce(m.id, e.id) IS NOT NULL
      ON CONFLICT (dedupe_key) DO NOTHING
      RETURNING id`);
    const ids = rowsOf<{ id: string }>(result).map((r) => r.id);
    await recordEscalations(tx, ids, now);
    const skipped = rowsOf<{ task_id: string; program_id: string; owner_id: string; owner_name: string; total: number }>(
      await tx.execute(sql`
        SELECT t.id AS task_id, t.program_id, o.id AS owner_id, o.name AS owner_name, count(*) OVER ()::int AS total
        ${overdue} AND m.id IS NULL AND e.id IS NULL
          AND NOT EXISTS (SELECT 1 FROM tasks x WHERE x.dedupe_key = 'escalation:' || t.id)
        ORDER BY t.due_at, t.id LIMIT ${SKIPPED_LISTED}`),
    );
    const skippedCount = skipped[0]?.total ?? 0;
    if (skippedCount > 0) {
      log?.warn(
        {
          event: 'escalation_skipped',
          skipped: skippedCount,
          tasks: skipped.map((s) => ({ taskId: s.task_id, programId: s.program_id, ownerId: s.owner_id, ownerName: s.owner_name })),
        },
        `${skippedCount} overdue task(s) not escalated: the owner has no active manager and the program no active escalation contact (set one: PATCH /v1/sales-owners/{id} managerId, or the program's escalationContactId)`,
      );
    }
    return { escalated: ids.length, skipped: skippedCount };
  });
}

export interface TaskQuery {
  limit: number;
  cursor?: string | undefined;
  assignee?: string | undefined;
  status?: string[] | undefined;
  overdue?: boolean | undefined;
  programId?: string | undefined;
  customerId?: string | undefined;
}

/** Tasks by due date, within the viewer's scope: sales their own, managers their department's. */
export async function listTasks(db: Db, query: TaskQuery, viewer: Viewer, now: Date) {
  let assignee = query.assignee;
  if (assignee === 'me') {
    if (!viewer.salesOwnerId)
      throw validationError([
        {
          path: 'query.assignee',
          message: '"me" needs a token bound to a sales owner (a sales token, or a manager token bound to their own record); name the owner id',
        },
      ]);
    assignee = viewer.salesOwnerId;
  } else if (assignee !== undefined && !z.uuid().safeParse(assignee).success) {
    throw validationError([{ path: 'query.assignee', message: 'expected "me" or a sales owner id' }]);
  }
  const after = query.cursor ? decodeCursor(query.cursor, z.tuple([cursorInstant, z.uuid()])) : undefined;
  const rows = await db
    .select()
    .from(tasks)
    .where(
      and(
        taskScope(viewer),
        assignee ? eq(tasks.assigneeId, assignee) : undefined,
        query.status?.length ? inArray(tasks.status, query.status as TaskRow['status'][]) : undefined,
        query.overdue
          ? sql`${tasks.status} = 'open' AND ${tasks.dueAt} < ${now} AND (${tasks.snoozedUntil} IS NULL OR ${tasks.snoozedUntil} <= ${now})`
          : undefined,
        query.programId ? eq(tasks.programId, query.programId) : undefined,
        query.customerId ? eq(tasks.customerId, query.customerId) : undefined,
        after ? sql`(${tasks.dueAt}, ${tasks.id}) > (${after[0]}::timestamptz, ${after[1]}::uuid)` : undefined,
      ),
    )
    .orderBy(asc(tasks.dueAt), asc(tasks.id))
    .limit(query.limit + 1);
  return toPage(
    rows,
    query.limit,
    (r) => toTask(r, now),
    (r) => [r.dueAt.toISOString(), r.id],
  );
}

/** complete / dismiss / snooze an open task the viewer can see; a snooze's reason goes into its audit entry. */
export async function actOnTask(
  db: Db,
  id: string,
  action: { kind: 'complete' } | { kind: 'dismiss'; reason: string } | { kind: 'snooze'; until: Date; reason?: string | undefined },
  viewer: Viewer,
  actor: Actor,
  now: Date,
) {
  return db.transaction(async (tx) => {
    const [task] = await tx
      .select()
      .from(tasks)
      .where(and(eq(tasks.id, id), taskScope(viewer)))
      .for('no key update');
    if (!task) throw errors.taskNotFound(id);
    if (task.status !== 'open') throw errors.taskNotOpen(task.status);
    let values: Partial<TaskRow>;
    if (action.kind === 'snooze') {
      if (action.until <= now) throw validationError([{ path: 'body.until', message: 'must be in the future' }]);
      if (action.until.getTime() - now.getTime() > 90 * 86_400_000) throw validationError([{ path: 'body.until', message: 'may be at most 90 days ahead' }]);
      values = { snoozedUntil: action.until };
    } else {
      values = {
        status: action.kind === 'complete' ? 'completed' : 'dismissed',
        closedAt: now,
        closeReason: action.kind === 'complete' ? `completed by ${actor.name}` : action.reason,
      };
    }
    const [row] = await tx
      .update(tasks)
      .set({ ...values, updatedAt: now })
      .where(eq(tasks.id, id))
      .returning();
    if (action.kind !== 'snooze') await closeTasks(tx, sql`${tasks.escalatedFromId} = ${id}`, `the escalated task was ${values.status}`, now);
    const after = { ...toTask(row!, now), ...(action.kind === 'snooze' && action.reason ? { snoozeReason: action.reason } : {}) };
    await appendAudit(tx, actor, { action: `task.${action.kind}`, entityType: 'task', entityId: id, before: toTask(task, now), after }, now);
    return toTask(row!, now);
  });
}
