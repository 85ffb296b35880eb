import type { CustomerStatus } from '../../db/schema/enums.ts';
import { contactEventKinds, customerStatuses, verdicts } from '../../db/schema/enums.ts';
import type { Contact } from '../contacts/contact-schemas.ts';
import type { SelfCheckLink } from '../outreach/self-check-service.ts';
import type { Customer, CustomerQuery } from '../customers/customer-schemas.ts';
import type { DomainEvaluation } from '../dns/evaluate-domain.ts';
import { csrfField, domainCell, escapeHtml, href, page, t, table, type Flash, type PageContext } from './dashboard-layout.ts';
import {
  actionName,
  contactRoleName,
  dmarcName,
  eventKindName,
  formatTime,
  impactText,
  linkStateName,
  mxStateName,
  say,
  statusName,
  verdictName,
} from './dashboard-messages.ts';
import { taskTable, type TaskView } from './task-views.ts';

type Owner = { name: string; department: string };

/** The list's filters as a query: the same names as GET /v1/customers, so the CSV link repeats them. */
export function filterParams(q: Partial<CustomerQuery>) {
  return {
    programId: q.programId,
    status: q.status,
    verdict: q.verdict === undefined ? undefined : [q.verdict].flat(),
    salesOwnerId: q.salesOwnerId,
    department: q.department,
    q: q.q,
    sort: q.sort === 'name' ? undefined : q.sort,
  };
}

const verdictBadge = (ctx: PageContext, verdict: string | null) =>
  `<span class="${verdict === 'clean' ? 'ok' : verdict === null ? 'muted' : 'bad'}">${escapeHtml(verdictName(ctx.lang, verdict))}</span>`;

/** The customer list: filters (several statuses and verdicts at once), sort, a page, the CSV of the same filter. */
export function customerListPage(
  ctx: PageContext,
  query: Partial<CustomerQuery>,
  result: { items: Customer[]; nextCursor: string | null },
  owners: Map<string, Owner & { id: string }>,
  programs: { id: string; name: string }[],
  flash: Flash | null,
) {
  const { lang } = ctx;
  const selectedVerdicts = [query.verdict ?? []].flat() as string[];
  const checkboxes = (name: string, values: readonly string[], selected: readonly string[], label: (v: string) => string) =>
    values
      .map((v) => `<label><input type="checkbox" name="${name}" value="${v}"${selected.includes(v) ? ' checked' : ''}> ${escapeHtml(label(v))}</label>`)
      .join(' ');
  const option = (value: string, label: string, selected: boolean) =>
    `<option value="${escapeHtml(value)}"${selected ? ' selected' : ''}>${escapeHtml(label)}</option>`;
  const sorts: [string, string][] = [
    ['name', say(lang, 'sortName')],
    ['status', say(lang, 'sortStatus')],
    ['-updatedAt', say(lang, 'sortUpdated')],
    ['plannedMigrationAt', say(lang, 'sortPlanned')],
  ];
  const ownerList = [...owners.values()].sort((a, b) => a.name.localeCompare(b.name));
  const form = `<form method="get" action="/dashboard/customers" class="filters" aria-label="${t(lang, 'apply')}">
<fieldset class="checks"><legend>${t(lang, 'filterStatus')}</legend>${checkboxes('status', customerStatuses, query.status ?? [], (s) => statusName(lang, s))}</fieldset>
<fieldset class="checks"><legend>${t(lang, 'filterVerdict')}</legend>${checkboxes('verdict', [...verdicts, 'unchecked'], selectedVerdicts, (v) => verdictName(lang, v))}</fieldset>
<label>${t(lang, 'filterProgram')} <select name="programId">${option('', say(lang, 'anyProgram'), !query.programId)}${programs
    .map((p) => option(p.id, p.name, p.id === query.programId))
    .join('')}</select></label>
<label>${t(lang, 'filterOwner')} <select name="salesOwnerId">${option('', say(lang, 'anyOwner'), !query.salesOwnerId)}${ownerList
    .map((o) => option(o.id, `${o.name} (${o.department})`, o.id === query.salesOwnerId))
    .join('')}</select></label>
<label>${t(lang, 'filterDepartment')} <input type="text" name="department" value="${escapeHtml(query.department ?? '')}" size="12"></label>
<label>${t(lang, 'filterText')} <input type="text" name="q" value="${escapeHtml(query.q ?? '')}" size="16"></label>
<label>${t(lang, 'sortBy')} <select name="sort">${sorts.map(([v, l]) => option(v, l, (query.sort ?? 'name') === v)).join('')}</select></label>
<button>${t(lang, 'apply')}</button> <a href="/dashboard/customers">${t(lang, 'reset')}</a></form>`;
  const rows = result.items.map((c) => {
    const owner = owners.get(c.salesOwnerId);
    return [
      `<a href="/dashboard/customers/${c.id}">${escapeHtml(c.name)}</a>`,
      escapeHtml(c.externalRef),
      escapeHtml(statusName(lang, c.status)),
      escapeHtml(owner?.name ?? '—'),
      escapeHtml(owner?.department ?? '—'),
      c.domains.map((d) => `${domainCell(d)}: ${verdictBadge(ctx, d.latestVerdict)}`).join('<br>') || '—',
      escapeHtml(c.plannedMigrationAt ?? '—'),
    ];
  });
  const params = filterParams(query);
  const pager = `<div class="pager">${query.cursor ? `<a href="${escapeHtml(href('/customers', params))}">${t(lang, 'firstPage')}</a>` : ''}${
    result.nextCursor ? `<a rel="next" href="${escapeHtml(href('/customers', { ...params, cursor: result.nextCursor }))}">${t(lang, 'next')}</a>` : ''
  }</div>`;
  const body = `<h1>${t(lang, 'customersTitle')}</h1><section>${form}</section>
<section><p><a href="${escapeHtml(href('/customers.csv', params))}" download>${t(lang, 'downloadCsv')}</a></p>
${table(
  'customer-table',
  [t(lang, 'name'), t(lang, 'ref'), t(lang, 'status'), t(lang, 'owner'), t(lang, 'department'), t(lang, 'domains'), t(lang, 'planned')],
  rows,
  t(lang, 'none'),
)}${pager}</section>`;
  return page(ctx, say(lang, 'customersTitle'), body, flash);
}

/** One domain with its latest evidence and what to do. */
export type DomainWithEvidence = {
  id: string;
  name: string;
  displayName: string;
  latestVerdict: string | null;
  lastCheckedAt: string | null;
  latestCheck: { checkedAt: string; result: Record<string, unknown> } | null;
};

function domainSection(ctx: PageContext, d: DomainWithEvidence, timeZone: string, returnTo: string) {
  const { lang } = ctx;
  const evaluation = d.latestCheck?.result as Partial<DomainEvaluation> | undefined;
  const facts: [string, string][] = [
    [t(lang, 'verdict'), verdictBadge(ctx, d.latestVerdict)],
    [t(lang, 'checkedAt'), d.lastCheckedAt ? escapeHtml(formatTime(lang, d.lastCheckedAt, timeZone)) : t(lang, 'neverChecked')],
  ];
  if (evaluation?.mx) {
    const hosts = evaluation.mx.hosts
      .map((h) => `${h.priority} <code>${escapeHtml(h.exchange)}</code> (${escapeHtml(mxStateName(lang, h.side))})`)
      .join('<br>');
    facts.push([t(lang, 'mxHosts'), `${escapeHtml(mxStateName(lang, evaluation.mx.state))}${hosts ? `<br>${hosts}` : ''}`]);
  }
  const spf = evaluation?.spf;
  if (spf) {
    facts.push([t(lang, 'spfRecord'), spf.records.length > 0 ? spf.records.map((r) => `<code>${escapeHtml(r)}</code>`).join('<br>') : t(lang, 'noSpf')]);
    const impacts = (evaluation.impact ?? []).map((i) => `<li>${escapeHtml(impactText(lang, i))}</li>`).join('');
    facts.push([
      t(lang, 'breaksAtDeletion'),
      `${t(lang, 'resultNow', { now: spf.resultNow, after: spf.resultIfLegacyDeleted })}${impacts ? `<ul>${impacts}</ul>` : ''}`,
    ]);
    for (const r of spf.suggestion?.verified ? spf.suggestion.records : []) {
      facts.push([t(lang, 'publishInstead'), `<code>${escapeHtml(r.name)}</code><pre class="record">${escapeHtml(r.record)}</pre>`]);
    }
    for (const b of spf.blockedBy ?? []) facts.push([t(lang, 'publishInstead'), t(lang, 'askOwner', { name: b.name, owner: b.owner, term: b.term })]);
  }
  if (evaluation?.dmarc) facts.push([t(lang, 'dmarcPolicy'), escapeHtml(dmarcName(lang, evaluation.dmarc.policy ?? null))]);
  const todo = evaluation?.instructions?.[lang] ?? [];
  if (todo.length > 0) facts.push([t(lang, 'whatToDo'), `<ul>${todo.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>`]);
  const list = facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('');
  return `<article id="domain-${d.id}" class="domain"><h3>${domainCell(d)}</h3><dl>${list}</dl>
<form class="inline" method="post" action="/dashboard/domains/${d.id}/check">${csrfField(ctx.csrf)}<input type="hidden" name="return" value="${escapeHtml(returnTo)}"><button class="secondary">${t(
    lang,
    'recheck',
  )}</button></form></article>`;
}

/** What the customer page offers to reach the customer: the self-check page's link, the notice, sending it. */
export interface Outreach {
  links: SelfCheckLink[];
  /** The newest live link's URL (null: none live). */
  liveUrl: string | null;
  /** The technical contact a notice goes to, when there is one with an email. */
  recipient: string | null;
  /** SMTP_URL is set. */
  canSend: boolean;
}

function outreachSection(ctx: PageContext, customerId: string, o: Outreach, timeZone: string) {
  const { lang } = ctx;
  const self = `/dashboard/customers/${customerId}`;
  const post = (action: string, label: string, secondary = false) =>
    `<form class="inline" method="post" action="${self}/${action}">${csrfField(ctx.csrf)}<button${secondary ? ' class="secondary"' : ''}>${label}</button></form>`;
  const live = o.liveUrl
    ? `<p>${t(lang, 'selfCheckLink')}<br><code id="self-check-url">${escapeHtml(o.liveUrl)}</code></p>`
    : `<p class="muted">${t(lang, 'noSelfCheckLink')}</p>`;
  const rows = o.links.map((l) => [
    escapeHtml(linkStateName(lang, l.state)),
    escapeHtml(formatTime(lang, l.createdAt, timeZone)),
    escapeHtml(formatTime(lang, l.expiresAt, timeZone)),
    escapeHtml(l.lastOpenedAt ? formatTime(lang, l.lastOpenedAt, timeZone) : '—'),
    l.state === 'active'
      ? `<form class="inline" method="post" action="${self}/self-check-links/${l.id}/revoke">${csrfField(ctx.csrf)}<button class="secondary">${t(lang, 'revoke')}</button></form>`
      : '',
  ]);
  const notice = (lang2: 'ja' | 'en', format: 'text' | 'eml') =>
    `<a href="${self}/notice?format=${format}&amp;noticeLang=${lang2}"${format === 'eml' ? ' download' : ''}>${t(lang, format === 'eml' ? 'noticeEml' : 'noticeText', { lang: lang2 === 'ja' ? '日本語' : 'English' })}</a>`;
  const send = o.canSend && o.recipient ? post('notice/send', t(lang, 'sendNotice', { to: o.recipient })) : '';
  const why = !o.recipient ? `<p class="muted">${t(lang, 'noRecipient')}</p>` : !o.canSend ? `<p class="muted">${t(lang, 'noSmtp')}</p>` : '';
  return `${live}${post('self-check-links', t(lang, 'makeSelfCheckLink'), true)}
${table('links-table', [t(lang, 'linkState'), t(lang, 'linkCreated'), t(lang, 'linkExpires'), t(lang, 'linkOpened'), ''], rows, t(lang, 'none'))}
<h3>${t(lang, 'notice')}</h3><p>${notice('ja', 'text')} · ${notice('en', 'text')}${o.recipient ? ` · ${notice('ja', 'eml')} · ${notice('en', 'eml')}` : ''}</p>${send}${why}`;
}

/** The contact log, newest first, and the form to log a call, email, meeting or note. */
function contactLog(ctx: PageContext, customerId: string, events: ContactEventView[], contacts: Contact[], timeZone: string) {
  const { lang } = ctx;
  const names = new Map(contacts.map((k) => [k.id, k.name]));
  const rows = events.map((e) => [
    escapeHtml(formatTime(lang, e.at, timeZone)),
    escapeHtml(eventKindName(lang, e.kind)),
    escapeHtml(e.contactId ? (names.get(e.contactId) ?? '—') : '—'),
    escapeHtml(e.summary),
    escapeHtml(e.actor),
  ]);
  const option = (value: string, label: string) => `<option value="${escapeHtml(value)}">${escapeHtml(label)}</option>`;
  const form = `<form method="post" action="/dashboard/customers/${customerId}/contacts/events" class="filters">${csrfField(ctx.csrf)}
<label>${t(lang, 'eventKind')} <select name="kind">${contactEventKinds.map((k) => option(k, eventKindName(lang, k))).join('')}</select></label>
<label>${t(lang, 'contacts')} <select name="contactId">${option('', say(lang, 'noneOption'))}${contacts.map((k) => option(k.id, k.name)).join('')}</select></label>
<label>${t(lang, 'summary')} <input type="text" name="summary" required maxlength="2000" size="30"></label>
<button>${t(lang, 'logContact')}</button></form>`;
  return `${form}${table('contact-log', [t(lang, 'when'), t(lang, 'eventKind'), t(lang, 'contacts'), t(lang, 'summary'), t(lang, 'who')], rows, t(lang, 'none'))}`;
}

export type ContactEventView = { id: string; contactId: string | null; kind: string; summary: string; actor: string; at: string };

/** The customer's contacts, each removable, and the form to add one. */
function contactsSection(ctx: PageContext, customerId: string, contacts: Contact[]) {
  const { lang } = ctx;
  const rows = contacts.map((k) => [
    escapeHtml(k.name),
    escapeHtml(contactRoleName(lang, k.role)),
    k.email ? `<a href="mailto:${escapeHtml(k.email)}">${escapeHtml(k.email)}</a>` : '—',
    escapeHtml(k.phone ?? '—'),
    escapeHtml(k.language === 'ja' ? '日本語' : 'English'),
    `<form class="inline" method="post" action="/dashboard/contacts/${k.id}/delete">${csrfField(ctx.csrf)}<button class="secondary">${t(lang, 'remove')}</button></form>`,
  ]);
  const option = (value: string, label: string) => `<option value="${value}">${escapeHtml(label)}</option>`;
  const form = `<form method="post" action="/dashboard/customers/${customerId}/contacts" class="filters">${csrfField(ctx.csrf)}
<label>${t(lang, 'name')} <input type="text" name="name" required maxlength="200"></label>
<label>${t(lang, 'email')} <input type="email" name="email" maxlength="254"></label>
<label>${t(lang, 'phone')} <input type="tel" name="phone" maxlength="32"></label>
<label>${t(lang, 'contactRole')} <select name="role">${option('technical', contactRoleName(lang, 'technical'))}${option('business', contactRoleName(lang, 'business'))}</select></label>
<label>${t(lang, 'contactLanguage')} <select name="language">${option('ja', '日本語')}${option('en', 'English')}</select></label>
<button>${t(lang, 'addContact')}</button></form>`;
  return `${table(
    'contact-table',
    [t(lang, 'name'), t(lang, 'contactRole'), t(lang, 'email'), t(lang, 'phone'), t(lang, 'contactLanguage'), t(lang, 'actions')],
    rows,
    t(lang, 'none'),
  )}<h3>${t(lang, 'addContact')}</h3>${form}`;
}

export interface HistoryItem {
  kind: 'status' | 'audit';
  at: string;
  actor: string;
  from?: string | null | undefined;
  to?: string | undefined;
  note?: string | null | undefined;
  overrideReason?: string | null | undefined;
  action?: string | undefined;
}

/** One line of history in words: a status move (with its note) or an audited action. */
export function historyText(lang: PageContext['lang'], h: HistoryItem) {
  if (h.kind === 'status') {
    const move = h.from
      ? say(lang, 'historyStatus', { from: statusName(lang, h.from), to: statusName(lang, h.to ?? '') })
      : say(lang, 'historyCreated', { to: statusName(lang, h.to ?? '') });
    return [move, h.note, h.overrideReason].filter(Boolean).join(' — ');
  }
  return actionName(lang, h.action ?? '');
}

/** The status forms: one button per legal next state (reopen targets for an admin), the version carried. */
function statusForm(ctx: PageContext, c: Customer, targets: CustomerStatus[], needsReason: boolean, mayOverride: boolean) {
  const { lang } = ctx;
  if (targets.length === 0) return `<p>${t(lang, 'noNextStatus')}</p>`;
  const buttons = targets.map((s) => `<button name="to" value="${s}">${t(lang, 'moveTo', { status: statusName(lang, s) })}</button>`).join(' ');
  return `<form method="post" action="/dashboard/customers/${c.id}/transition" class="stack">${csrfField(ctx.csrf)}<input type="hidden" name="version" value="${c.version}">
<label>${t(lang, 'statusNote')}<textarea name="note" rows="2" maxlength="2000"></textarea></label>
${mayOverride ? `<label>${t(lang, 'overrideReason')}<input type="text" name="overrideReason" maxlength="2000" size="40"${needsReason ? ' required' : ''}></label>` : ''}
<p>${buttons}</p></form>`;
}

export function customerPage(
  ctx: PageContext,
  c: Customer,
  extra: {
    owner: Owner | null;
    program: { name: string; timezone: string };
    domains: DomainWithEvidence[];
    tasks: TaskView[];
    history: HistoryItem[];
    contacts: Contact[];
    events: ContactEventView[];
    targets: CustomerStatus[];
    reopening: boolean;
    mayOverride: boolean;
    outreach: Outreach;
  },
  flash: Flash | null,
) {
  const { lang } = ctx;
  const tz = extra.program.timezone;
  const self = `/dashboard/customers/${c.id}`;
  const history = extra.history.map((h) => [escapeHtml(formatTime(lang, h.at, tz)), escapeHtml(h.actor), escapeHtml(historyText(lang, h))]);
  const body = `<p><a href="/dashboard/customers">${t(lang, 'backToCustomers')}</a></p>
<h1>${escapeHtml(c.name)} <span class="muted">${escapeHtml(c.externalRef)}</span></h1>
<div class="cards"><div class="card"><b id="customer-status">${escapeHtml(statusName(lang, c.status))}</b>${t(lang, 'status')}</div>
<div class="card"><b>${escapeHtml(extra.owner?.name ?? '—')}</b>${escapeHtml(extra.owner?.department ?? '')}</div>
<div class="card"><b>${escapeHtml(c.plannedMigrationAt ?? '—')}</b>${t(lang, 'plannedDate')}</div></div>
<section aria-labelledby="status-h"><h2 id="status-h">${t(lang, 'changeStatus')}</h2>${statusForm(ctx, c, extra.targets, extra.reopening, extra.mayOverride)}</section>
<section aria-labelledby="domains-h"><h2 id="domains-h">${t(lang, 'domainEvidence')}</h2>${extra.domains.map((d) => domainSection(ctx, d, tz, self)).join('') || `<p>${t(lang, 'none')}</p>`}</section>
<section aria-labelledby="tasks-h"><h2 id="tasks-h">${t(lang, 'tasks')}</h2>${taskTable(ctx, extra.tasks, new Map([[c.id, c.name]]), () => tz, self, { withCustomer: false })}</section>
<section aria-labelledby="details-h"><h2 id="details-h">${t(lang, 'details')}</h2>
<form method="post" action="${self}/details" class="stack">${csrfField(ctx.csrf)}<input type="hidden" name="version" value="${c.version}">
<label>${t(lang, 'plannedDate')} <input type="date" name="plannedMigrationAt" value="${escapeHtml(c.plannedMigrationAt ?? '')}"></label>
<label>${t(lang, 'successorAccount')} <input type="text" name="successorAccountRef" value="${escapeHtml(c.successorAccountRef ?? '')}" maxlength="200"></label>
<label>${t(lang, 'notes')}<textarea name="notes" rows="4" maxlength="10000">${escapeHtml(c.notes ?? '')}</textarea></label>
<button>${t(lang, 'save')}</button> <span class="muted">${t(lang, 'version', { n: c.version })}</span></form></section>
<section aria-labelledby="contacts-h"><h2 id="contacts-h">${t(lang, 'contacts')}</h2>${contactsSection(ctx, c.id, extra.contacts)}</section>
<section aria-labelledby="outreach-h"><h2 id="outreach-h">${t(lang, 'outreach')}</h2>${outreachSection(ctx, c.id, extra.outreach, tz)}</section>
<section aria-labelledby="log-h"><h2 id="log-h">${t(lang, 'contactLog')}</h2>${contactLog(ctx, c.id, extra.events, extra.contacts, tz)}</section>
<section aria-labelledby="history-h"><h2 id="history-h">${t(lang, 'history')}</h2>${table('history-table', [t(lang, 'when'), t(lang, 'who'), t(lang, 'what')], history, t(lang, 'none'))}</section>`;
  return page(ctx, c.name, body, flash);
}
