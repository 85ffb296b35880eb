import type { CustomerNeedingAction } from '../reports/work-service.ts';
import { escapeHtml, href, page, t, table, type Flash, type PageContext } from './dashboard-layout.ts';
import { say, statusName, verdictName } from './dashboard-messages.ts';
import { taskTable, type TaskView } from './task-views.ts';

/** Why a customer is on the My work list, in words. */
function reasonsOf(ctx: PageContext, c: CustomerNeedingAction) {
  const { lang } = ctx;
  const reasons = [
    ...(c.verdicts.length > 0 ? [say(lang, 'reasonVerdict', { verdicts: c.verdicts.map((v) => verdictName(lang, v)).join(', ') })] : []),
    ...(c.breaksAtDeletion ? [say(lang, 'reasonBreaks')] : []),
    ...(c.plannedDatePassed && c.plannedMigrationAt ? [say(lang, 'reasonPlannedPassed', { date: c.plannedMigrationAt })] : []),
    ...(c.daysNeeded !== null ? [say(lang, 'reasonAtRisk', { days: c.daysToShutdown, need: c.daysNeeded })] : []),
  ];
  return `<ul>${reasons.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul>`;
}

/** My work: the signed-in owner's open tasks (overdue first) and customers that need something. */
export function workPage(
  ctx: PageContext,
  tasks: TaskView[],
  names: Map<string, string>,
  customers: CustomerNeedingAction[],
  timeZoneOf: (programId: string) => string,
  flash: Flash | null,
) {
  const { lang } = ctx;
  const overdue = tasks.filter((x) => x.overdue).length;
  const rows = customers.map((c) => [
    `<a href="/dashboard/customers/${c.id}">${escapeHtml(c.name)}</a><br><span class="muted">${escapeHtml(c.externalRef)}</span>`,
    escapeHtml(statusName(lang, c.status)),
    reasonsOf(ctx, c),
  ]);
  const body = `<h1>${t(lang, 'workTitle')}</h1>
<div class="cards">
<div class="card"><a href="#tasks"><b id="count-tasks">${tasks.length}</b>${t(lang, 'openTasks')}</a></div>
<div class="card"><a href="#tasks"><b id="count-overdue" class="${overdue > 0 ? 'bad' : ''}">${overdue}</b>${t(lang, 'overdue')}</a></div>
<div class="card"><a href="#customers"><b id="count-customers">${customers.length}</b>${t(lang, 'myCustomers')}</a></div></div>
<section id="tasks" aria-labelledby="tasks-h"><h2 id="tasks-h">${t(lang, 'myTasks')}</h2>${taskTable(ctx, tasks, names, timeZoneOf, '/dashboard/work')}</section>
<section id="customers" aria-labelledby="customers-h"><h2 id="customers-h">${t(lang, 'myCustomers')}</h2>
${table('work-customers', [t(lang, 'customer'), t(lang, 'status'), t(lang, 'why')], rows, t(lang, 'none'))}
<p><a href="${href('/customers', { salesOwnerId: ctx.viewer?.salesOwnerId })}">${t(lang, 'navCustomers')}</a></p></section>`;
  return page(ctx, say(lang, 'workTitle'), body, flash);
}

/** For a token bound to no sales owner: there is no "my" work. */
export const notBoundPage = (ctx: PageContext) =>
  page(ctx, say(ctx.lang, 'workTitle'), `<section><h1>${t(ctx.lang, 'workTitle')}</h1><p>${t(ctx.lang, 'workNotBound')}</p></section>`);

/** The programs the viewer can open. */
export function programsPage(ctx: PageContext, programs: { id: string; name: string; shutdownAt: string }[]) {
  const { lang } = ctx;
  const items = programs.map((p) => `<li><a href="/dashboard/programs/${p.id}">${escapeHtml(p.name)}</a> — ${escapeHtml(p.shutdownAt)}</li>`).join('');
  return page(ctx, say(lang, 'programsTitle'), `<section><h1>${t(lang, 'programsTitle')}</h1><ul>${items || `<li>${t(lang, 'none')}</li>`}</ul></section>`);
}
