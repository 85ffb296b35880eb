import { addDays, dayDiff } from '../lib/calendar.ts';
import type { BlockingDomain } from '../reports/gate-service.ts';
import { RISK_DAYS, type readiness } from '../reports/readiness-service.ts';
import type { blastRadius } from '../reports/report-service.ts';
import { domainCell, escapeHtml, href, page, t, table, type PageContext } from './dashboard-layout.ts';
import { dmarcName, formatTime, say, statusName, verdictName, type Lang } from './dashboard-messages.ts';

type Readiness = Awaited<ReturnType<typeof readiness>>;
type Program = { id: string; name: string; shutdownAt: string; spfRecordDeletionAt: string | null; timezone: string };

/** Days of history a projection needs before it says anything (its pace is measured over 14). */
export const MIN_HISTORY_DAYS = 7;

/**
 * The burndown as an inline SVG chart: customers not migrated and domains not clean per day, with
 * axes, the shutdown and SPF-deletion deadlines as vertical lines, and each projection drawn dashed
 * from today to the day it reaches zero.
 */
export function burndownSvg(lang: Lang, r: Readiness, program: Program) {
  const points = r.burndown;
  const w = 760;
  const h = 280;
  const left = 44;
  const right = 16;
  const top = 28;
  const bottom = 40;
  const start = points[0]?.day ?? r.today;
  const projected = [r.projection.migration.projectedAt, r.projection.spfCleanup.projectedAt].filter((d): d is string => d !== null);
  const deadlines = [program.shutdownAt, program.spfRecordDeletionAt].filter((d): d is string => d !== null);
  // Up to a year past today, so a far projection does not squash the history into a sliver.
  const end = [r.today, ...deadlines, ...projected].filter((d) => d <= addDays(r.today, 365)).reduce((a, b) => (a > b ? a : b));
  const span = Math.max(1, dayDiff(end, start));
  const max = Math.max(1, ...points.flatMap((p) => [p.customersNotMigrated, p.domainsNotClean]));
  const x = (day: string) => left + (Math.min(Math.max(dayDiff(day, start), 0), span) * (w - left - right)) / span;
  const y = (v: number) => h - bottom - (v * (h - top - bottom)) / max;
  const f = (n: number) => n.toFixed(1);
  const line = (pick: (p: Readiness['burndown'][number]) => number) => points.map((p) => `${f(x(p.day))},${f(y(pick(p)))}`).join(' ');
  const ticks = [0, Math.round(max / 2), max]
    .map(
      (v) =>
        `<line x1="${left}" x2="${w - right}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="#e5e7eb"/><text x="${left - 6}" y="${f(y(v) + 4)}" font-size="11" text-anchor="end">${v}</text>`,
    )
    .join('');
  const deadline = (day: string | null, label: string, colour: string, cls: string) =>
    day === null || day > end
      ? ''
      : `<line class="${cls}" x1="${f(x(day))}" x2="${f(x(day))}" y1="${top - 6}" y2="${h - bottom}" stroke="${colour}" stroke-dasharray="6 4" stroke-width="1.5"/><text x="${f(x(day) - 4)}" y="${top - 10}" font-size="11" text-anchor="end" fill="${colour}">${escapeHtml(label)} ${escapeHtml(day)}</text>`;
  const now = points[points.length - 1];
  const projection = (at: string | null, value: number | undefined, colour: string, cls: string) =>
    at === null || value === undefined || value === 0 || at > end
      ? ''
      : `<line class="${cls}" x1="${f(x(r.today))}" y1="${f(y(value))}" x2="${f(x(at))}" y2="${f(y(0))}" stroke="${colour}" stroke-dasharray="3 3" stroke-width="2"/>`;
  const legend = [
    ['#12355b', say(lang, 'notMigrated')],
    ['#b35c00', say(lang, 'notClean')],
  ]
    .map(
      ([c, label], i) =>
        `<rect x="${left + 8 + i * 220}" y="${h - 14}" width="14" height="4" fill="${c}"/><text x="${left + 28 + i * 220}" y="${h - 9}" font-size="11">${escapeHtml(label!)}</text>`,
    )
    .join('');
  return `<svg viewBox="0 0 ${w} ${h}" role="img" aria-labelledby="burndown-title" data-points="${points.length}"><title id="burndown-title">${escapeHtml(say(lang, 'burndown'))}</title>
${ticks}<line x1="${left}" y1="${h - bottom}" x2="${w - right}" y2="${h - bottom}" stroke="#555"/><line x1="${left}" y1="${top}" x2="${left}" y2="${h - bottom}" stroke="#555"/>
<text x="${left}" y="${h - bottom + 14}" font-size="11">${escapeHtml(start)}</text><text x="${w - right}" y="${h - bottom + 14}" font-size="11" text-anchor="end">${escapeHtml(end)}</text>
${deadline(program.shutdownAt, say(lang, 'shutdownLine'), '#b3261e', 'deadline-shutdown')}${deadline(program.spfRecordDeletionAt, say(lang, 'deletionLine'), '#7a3db8', 'deadline-deletion')}
<polyline class="series-customers" fill="none" stroke="#12355b" stroke-width="2" points="${line((p) => p.customersNotMigrated)}"/>
<polyline class="series-domains" fill="none" stroke="#b35c00" stroke-width="2" points="${line((p) => p.domainsNotClean)}"/>
${points.length >= MIN_HISTORY_DAYS ? projection(r.projection.migration.projectedAt, now?.customersNotMigrated, '#12355b', 'projection-customers') + projection(r.projection.spfCleanup.projectedAt, now?.domainsNotClean, '#b35c00', 'projection-domains') : ''}
${legend}</svg>`;
}

function projectionText(lang: Lang, r: Readiness) {
  if (r.burndown.length < MIN_HISTORY_DAYS) return `<p id="projection">${t(lang, 'notEnoughHistory', { days: r.burndown.length, need: MIN_HISTORY_DAYS })}</p>`;
  const one = (p: Readiness['projection']['migration'], series: string) => {
    if (p.remaining === 0) return t(lang, 'projectionDone', { series });
    if (p.projectedAt === null) return `<span class="bad">${t(lang, 'projectionStalled', { series, deadline: p.deadline })}</span>`;
    const verdict = p.onTime ? say(lang, 'onTime') : say(lang, 'late');
    return `<span class="${p.onTime ? 'ok' : 'bad'}">${t(lang, 'projectedBy', { series, date: p.projectedAt, verdict, deadline: p.deadline })}</span>`;
  };
  return `<ul id="projection"><li>${one(r.projection.migration, say(lang, 'notMigrated'))}</li><li>${one(r.projection.spfCleanup, say(lang, 'notClean'))}</li></ul>`;
}

const riskKey = {
  shutdown_near: 'riskShutdownNear',
  shutdown_passed: 'riskShutdownPassed',
  planned_date_passed: 'riskPlannedPassed',
  mx_on_legacy: 'riskMxOnLegacy',
  mx_partly_on_legacy: 'riskMxPartly',
  breaks_at_deletion_reject: 'riskRejected',
  breaks_at_deletion_quarantine: 'riskQuarantined',
  breaks_at_deletion: 'riskBreaks',
} as const;

/** Why a customer is at risk: the report's own English words, or the catalogue's from its codes. */
function riskText(lang: Lang, c: Readiness['atRiskCustomers'][number], daysToShutdown: number) {
  if (lang === 'en') return c.reasons.join('; ');
  const values = { days: daysToShutdown, need: RISK_DAYS[c.status] ?? '', date: c.plannedMigrationAt ?? '' };
  return c.reasonCodes.map((code) => say(lang, riskKey[code], values)).join('; ');
}

const reasonKey = { mx_on_legacy: 'blockMx', breaks_at_deletion: 'blockBreaks', unverified: 'blockUnverified', not_found: 'blockNotFound' } as const;

function blockers(ctx: PageContext, id: string, list: BlockingDomain[]) {
  const { lang } = ctx;
  if (list.length === 0) return '';
  const items = list
    .map(
      (b) =>
        `<li><a href="/dashboard/customers/${b.customerId}#domain-${b.domainId}">${domainCell(b)}</a> — ${escapeHtml(b.customerName)} (${t(lang, reasonKey[b.reason])})</li>`,
    )
    .join('');
  return `<details open><summary>${t(lang, 'blockingDomains')}</summary><ul id="${id}">${items}</ul></details>`;
}

type Blast = Awaited<ReturnType<typeof blastRadius>>;

/** The program's dashboard: every figure links to the list behind it; the gates say why they are shut. */
export function programPage(
  ctx: PageContext,
  program: Program,
  r: Readiness,
  gates: { mxCutover: BlockingDomain[]; spfRecordDeletion: BlockingDomain[] },
  blast: Blast,
  blastCursor: string | undefined,
) {
  const { lang } = ctx;
  const tz = program.timezone;
  const customers = (params: Record<string, string | string[]>) => escapeHtml(href('/customers', { programId: program.id, ...params }));
  const card = (id: string, value: string | number, label: string, link: string) =>
    `<div class="card"><a href="${link}"><b id="${id}">${escapeHtml(value)}</b>${label}</a></div>`;
  const gate = (id: string, label: string, open: boolean, why: string, list: BlockingDomain[]) =>
    `<li><b>${label}</b>: <span id="${id}" class="${open ? 'ok' : 'bad'}">${open ? t(lang, 'gateOpen') : t(lang, 'gateShut')}</span>${
      open ? '' : `<p>${why}</p>${blockers(ctx, `${id}-blockers`, list)}`
    }</li>`;
  const m = r.gates.mxCutoverReady;
  const s = r.gates.spfRecordDeletionSafe;
  const statusRows = Object.entries(r.customers.statusCounts).map(([status, n]) => [
    escapeHtml(statusName(lang, status)),
    `<a data-status="${escapeHtml(status)}" href="${customers({ status })}">${n}</a>`,
  ]);
  const departmentRows = r.byDepartment.map((d) => [
    `<a href="${customers({ department: d.department })}">${escapeHtml(d.department)}</a>`,
    String(d.openTasks),
    String(d.overdueTasks),
    String(d.atRisk),
  ]);
  const ownerRows = r.bySalesOwner.map((o) => [
    escapeHtml(o.department),
    `<a href="${customers({ salesOwnerId: o.salesOwnerId })}">${escapeHtml(o.name)}</a>`,
    String(o.openTasks),
    String(o.overdueTasks),
    String(o.atRisk),
  ]);
  const atRisk = r.atRiskCustomers
    .map(
      (c) =>
        `<li><a href="/dashboard/customers/${c.customerId}"><b>${escapeHtml(c.name)}</b></a> (${escapeHtml(statusName(lang, c.status))}, ${escapeHtml(c.salesOwner)}): ${escapeHtml(
          riskText(lang, c, r.daysToShutdown),
        )}</li>`,
    )
    .join('');
  const blastRows = blast.items.map((b) => [
    `<a href="/dashboard/customers/${b.customerId}#domain-${b.domainId}">${domainCell({ name: b.domain, displayName: b.displayName })}</a>`,
    escapeHtml(dmarcName(lang, b.dmarcPolicy)),
    escapeHtml(verdictName(lang, b.latestVerdict)),
    `<a href="/dashboard/customers/${b.customerId}">${escapeHtml(b.customerName)}</a>`,
    escapeHtml(b.salesOwnerName),
    b.suggestedRecord ? `<code>${escapeHtml(b.suggestedRecord)}</code>` : '—',
  ]);
  const self = `/programs/${program.id}`;
  const blastPager = `<div class="pager">${blastCursor ? `<a href="${escapeHtml(href(self))}#blast">${t(lang, 'firstPage')}</a>` : ''}${
    blast.nextCursor ? `<a rel="next" href="${escapeHtml(href(self, { blastCursor: blast.nextCursor }))}#blast">${t(lang, 'next')}</a>` : ''
  }</div>`;
  const body = `<h1>${escapeHtml(program.name)}</h1>
<div class="cards">
<div class="card"><b id="days-to-shutdown">${r.daysToShutdown}</b>${t(lang, 'shutdownIn')}</div>
${r.daysToSpfRecordDeletion === null ? '' : `<div class="card"><b>${r.daysToSpfRecordDeletion}</b>${t(lang, 'deletionIn')}</div>`}
${card('migrated-percent', `${r.customers.migratedPercent}%`, t(lang, 'migrated'), customers({ status: ['migrated', 'completed'] }))}
${card('completed-percent', `${r.customers.completedPercent}%`, t(lang, 'completed'), customers({ status: 'completed' }))}
${card('blast-radius', r.domains.blastRadius, t(lang, 'blast'), '#blast')}
${card('mx-on-legacy', r.domains.mxOnLegacy, t(lang, 'legacyMx'), customers({ verdict: ['needs_mx_change', 'needs_mx_and_spf'] }))}
${card('unverified', r.domains.unverified, t(lang, 'stale'), customers({ verdict: ['unknown', 'unchecked'] }))}
${card('domains-not-found', r.domains.notFound, t(lang, 'notFoundDomains'), customers({ verdict: 'domain_not_found' }))}</div>
<section aria-labelledby="gates-h"><h2 id="gates-h">${t(lang, 'gates')}</h2><ul>
${gate('gate-mx', t(lang, 'mxGate'), m.ready, t(lang, 'gateWhyMx', { legacy: m.mxOnLegacy, unverified: m.unverified, notFound: m.domainsNotFound }), gates.mxCutover)}
${gate('gate-spf', t(lang, 'spfGate'), s.safe, t(lang, 'gateWhySpf', { blast: s.blastRadius, unverified: s.unverified, notFound: s.domainsNotFound }), gates.spfRecordDeletion)}
</ul><p class="muted">${t(lang, 'evidenceAsOf', { at: formatTime(lang, s.evidenceAsOf, tz) })}</p></section>
<section aria-labelledby="burndown-h"><h2 id="burndown-h">${t(lang, 'burndown')}</h2>${burndownSvg(lang, r, program)}
<h3>${t(lang, 'projection')}</h3>${projectionText(lang, r)}</section>
<section aria-labelledby="status-h"><h2 id="status-h">${t(lang, 'customersByStatus')}</h2>${table('status-table', [t(lang, 'status'), t(lang, 'total')], statusRows, t(lang, 'none'))}</section>
<section aria-labelledby="departments-h"><h2 id="departments-h">${t(lang, 'departments')}</h2>${table(
    'department-table',
    [t(lang, 'department'), t(lang, 'openTasks'), t(lang, 'overdue'), t(lang, 'atRisk')],
    departmentRows,
    t(lang, 'none'),
  )}</section>
<section aria-labelledby="owners-h"><h2 id="owners-h">${t(lang, 'owners')}</h2>${table(
    'owner-table',
    [t(lang, 'department'), t(lang, 'owner'), t(lang, 'openTasks'), t(lang, 'overdue'), t(lang, 'atRisk')],
    ownerRows,
    t(lang, 'none'),
  )}</section>
<section aria-labelledby="risk-h"><h2 id="risk-h">${t(lang, 'atRiskList')}</h2><ol id="at-risk">${atRisk || `<li>${t(lang, 'none')}</li>`}</ol></section>
<section id="blast" aria-labelledby="blast-h"><h2 id="blast-h">${t(lang, 'blastList')} (${blast.total})</h2>${table(
    'blast-table',
    [t(lang, 'domains'), 'DMARC', t(lang, 'verdict'), t(lang, 'customer'), t(lang, 'owner'), t(lang, 'publishInstead')],
    blastRows,
    t(lang, 'none'),
  )}${blastPager}</section>`;
  return page(ctx, program.name, body);
}
