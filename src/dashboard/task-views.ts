import { csrfField, escapeHtml, t, table, type PageContext } from './dashboard-layout.ts';
import { formatTime, say, taskKindName, taskTitle } from './dashboard-messages.ts';

/** A task as the pages get it from the task service. */
export interface TaskView {
  id: string;
  programId: string;
  customerId: string | null;
  kind: string;
  milestone: string;
  title: string;
  details: Record<string, unknown>;
  dueAt: string;
  snoozedUntil: string | null;
  overdue: boolean;
}

/** Overdue first, then by due time. */
export const byUrgency = (a: TaskView, b: TaskView) => Number(b.overdue) - Number(a.overdue) || a.dueAt.localeCompare(b.dueAt);

/** Done, snooze (until a date, with a reason) and dismiss (with a reason): three small forms. */
function taskActions(ctx: PageContext, task: TaskView, returnTo: string) {
  const { lang } = ctx;
  const hidden = `${csrfField(ctx.csrf)}<input type="hidden" name="return" value="${escapeHtml(returnTo)}">`;
  const action = (verb: string) => `/dashboard/tasks/${task.id}/${verb}`;
  return `<form class="inline" method="post" action="${action('complete')}">${hidden}<button>${t(lang, 'done')}</button></form>
<form class="inline" method="post" action="${action('snooze')}">${hidden}<input type="hidden" name="programId" value="${escapeHtml(task.programId)}"><label>${t(lang, 'snoozeUntil')} <input type="date" name="until" required></label><label>${t(
    lang,
    'reason',
  )} <input type="text" name="reason" required maxlength="2000" size="14"></label><button class="secondary">${t(lang, 'snooze')}</button></form>
<form class="inline" method="post" action="${action('dismiss')}">${hidden}<label>${t(lang, 'reason')} <input type="text" name="reason" required maxlength="2000" size="14"></label><button class="secondary">${t(
    lang,
    'dismiss',
  )}</button></form>`;
}

/** Open tasks with their actions; `timeZoneOf` gives each task's program's zone, `names` the customers'. */
export function taskTable(
  ctx: PageContext,
  tasks: TaskView[],
  names: Map<string, string>,
  timeZoneOf: (programId: string) => string,
  returnTo: string,
  { withCustomer = true } = {},
) {
  const { lang } = ctx;
  const rows = [...tasks].sort(byUrgency).map((task) => {
    const name = task.customerId ? (names.get(task.customerId) ?? null) : null;
    const due = `${escapeHtml(formatTime(lang, task.dueAt, timeZoneOf(task.programId)))}${task.overdue ? ` <span class="badge">${t(lang, 'overdueBadge')}</span>` : ''}${
      task.snoozedUntil
        ? `<br><span class="muted">${t(lang, 'snoozedUntil', { at: formatTime(lang, task.snoozedUntil, timeZoneOf(task.programId)) })}</span>`
        : ''
    }`;
    const customer = task.customerId && name ? `<a href="/dashboard/customers/${task.customerId}">${escapeHtml(name)}</a>` : '—';
    return [
      due,
      `<b>${escapeHtml(taskKindName(lang, task.kind))}</b> ${escapeHtml(taskTitle(lang, task, name))}`,
      ...(withCustomer ? [customer] : []),
      taskActions(ctx, task, returnTo),
    ];
  });
  const columns = [t(lang, 'due'), t(lang, 'task'), ...(withCustomer ? [t(lang, 'customer')] : []), t(lang, 'actions')];
  return table('task-table', columns, rows, escapeHtml(say(lang, 'none')));
}
