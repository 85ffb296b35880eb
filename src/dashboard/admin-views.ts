import { roles } from '../../db/schema/enums.ts';
import type { Program } from '../programs/program-schemas.ts';
import type { SalesOwner } from '../sales-owners/sales-owner-schemas.ts';
import type { describeToken } from '../tokens/token-service.ts';
import { csrfField, escapeHtml, page, t, table, type Flash, type PageContext } from './dashboard-layout.ts';
import { formatTime, roleName, say } from './dashboard-messages.ts';

type TokenView = ReturnType<typeof describeToken>;

export interface AdminData {
  owners: SalesOwner[];
  tokens: TokenView[];
  programs: Program[];
  /** A token just created: shown this once. */
  created?: { name: string; token: string } | undefined;
  /** The form just refused, with what was typed, so nothing typed is lost. */
  form?: Record<string, string> | undefined;
}

const option = (value: string, label: string, selected: boolean) =>
  `<option value="${escapeHtml(value)}"${selected ? ' selected' : ''}>${escapeHtml(label)}</option>`;

function ownerOptions(ctx: PageContext, owners: SalesOwner[], selected: string | null | undefined, noneLabel: string) {
  return (
    option('', noneLabel, !selected) +
    owners
      .filter((o) => o.active)
      .map((o) => option(o.id, `${o.name} (${o.department})`, o.id === selected))
      .join('')
  );
}

function ownersSection(ctx: PageContext, d: AdminData) {
  const { lang } = ctx;
  const hidden = (o: SalesOwner) => `${csrfField(ctx.csrf)}<input type="hidden" name="version" value="${o.version}">`;
  const rows = d.owners.map((o) => [
    escapeHtml(o.name),
    escapeHtml(o.email),
    escapeHtml(o.department),
    `<form class="inline" method="post" action="/dashboard/admin/owners/${o.id}">${hidden(o)}<label><span class="muted">${t(lang, 'manager')}</span> <select name="managerId">${ownerOptions(
      ctx,
      d.owners.filter((m) => m.id !== o.id),
      o.managerId,
      say(lang, 'noManager'),
    )}</select></label><button class="secondary">${t(lang, 'setManager')}</button></form>`,
    `${o.active ? t(lang, 'yes') : t(lang, 'no')} <form class="inline" method="post" action="/dashboard/admin/owners/${o.id}">${hidden(o)}<input type="hidden" name="active" value="${!o.active}"><button class="secondary">${
      o.active ? t(lang, 'deactivate') : t(lang, 'activate')
    }</button></form>`,
  ]);
  const f = d.form ?? {};
  const create = `<form method="post" action="/dashboard/admin/owners" class="filters">${csrfField(ctx.csrf)}
<label>${t(lang, 'name')} <input type="text" name="name" required maxlength="200" value="${escapeHtml(f.ownerName ?? '')}"></label>
<label>${t(lang, 'email')} <input type="email" name="email" required maxlength="254" value="${escapeHtml(f.email ?? '')}"></label>
<label>${t(lang, 'department')} <input type="text" name="department" required maxlength="100" value="${escapeHtml(f.department ?? '')}"></label>
<label>${t(lang, 'manager')} <select name="managerId">${ownerOptions(ctx, d.owners, f.managerId, say(lang, 'noManager'))}</select></label>
<button>${t(lang, 'create')}</button></form>`;
  return `<section aria-labelledby="owners-h"><h2 id="owners-h">${t(lang, 'salesOwners')}</h2>${table(
    'owners-table',
    [t(lang, 'name'), t(lang, 'email'), t(lang, 'department'), t(lang, 'manager'), t(lang, 'active')],
    rows,
    t(lang, 'none'),
  )}<h3>${t(lang, 'newOwner')}</h3>${create}</section>`;
}

function tokensSection(ctx: PageContext, d: AdminData) {
  const { lang } = ctx;
  const owners = new Map(d.owners.map((o) => [o.id, o]));
  const tz = d.programs[0]?.timezone ?? 'UTC';
  const rows = d.tokens.map((k) => [
    escapeHtml(k.name),
    escapeHtml(roleName(lang, k.role)),
    escapeHtml([k.salesOwnerId ? owners.get(k.salesOwnerId)?.name : null, k.department].filter(Boolean).join(' / ') || '—'),
    `<code>${escapeHtml(k.tokenPrefix)}…</code>`,
    escapeHtml(formatTime(lang, k.createdAt, tz)),
    escapeHtml(formatTime(lang, k.lastUsedAt, tz)),
    k.revokedAt
      ? `<span class="muted">${t(lang, 'revoked')}</span>`
      : `<form class="inline" method="post" action="/dashboard/admin/tokens/${k.id}/revoke">${csrfField(ctx.csrf)}<button class="secondary">${t(lang, 'revoke')}</button></form>`,
  ]);
  const f = d.form ?? {};
  const create = `<form method="post" action="/dashboard/admin/tokens" class="filters">${csrfField(ctx.csrf)}
<label>${t(lang, 'tokenName')} <input type="text" name="name" required maxlength="200" value="${escapeHtml(f.tokenName ?? '')}"></label>
<label>${t(lang, 'role')} <select name="role">${roles.map((r) => option(r, roleName(lang, r), (f.role ?? 'sales') === r)).join('')}</select></label>
<label>${t(lang, 'boundOwner')} <select name="salesOwnerId">${ownerOptions(ctx, d.owners, f.salesOwnerId, say(lang, 'noneOption'))}</select></label>
<label>${t(lang, 'department')} <input type="text" name="department" maxlength="200" value="${escapeHtml(f.tokenDepartment ?? '')}"></label>
<label>${t(lang, 'expiresInDays')} <input type="number" name="expiresInDays" min="1" max="3650" value="${escapeHtml(f.expiresInDays ?? '')}"></label>
<button>${t(lang, 'create')}</button></form>`;
  const created = d.created
    ? `<div class="flash notice" role="status"><p>${t(lang, 'tokenShownOnce', { name: d.created.name })}</p><p><code id="new-token">${escapeHtml(d.created.token)}</code></p></div>`
    : '';
  return `<section aria-labelledby="tokens-h"><h2 id="tokens-h">${t(lang, 'tokensTitle')}</h2>${created}${table(
    'tokens-table',
    [t(lang, 'tokenName'), t(lang, 'role'), t(lang, 'boundOwner'), 'ID', t(lang, 'created'), t(lang, 'lastUsed'), t(lang, 'actions')],
    rows,
    t(lang, 'none'),
  )}<h3>${t(lang, 'newToken')}</h3>${create}</section>`;
}

function programsSection(ctx: PageContext, d: AdminData) {
  const { lang } = ctx;
  const owners = new Map(d.owners.map((o) => [o.id, o.name]));
  const rows = d.programs.map((p) => [
    `<a href="/dashboard/programs/${p.id}">${escapeHtml(p.name)}</a>`,
    escapeHtml(p.shutdownAt),
    escapeHtml(p.spfRecordDeletionAt ?? '—'),
    escapeHtml(p.timezone),
    escapeHtml(p.escalationContactId ? (owners.get(p.escalationContactId) ?? '—') : '—'),
  ]);
  const f = d.form ?? {};
  const field = (name: string, key: Parameters<typeof t>[1], type = 'text', required = false) =>
    `<label>${t(lang, key)} <input type="${type}" name="${name}"${required ? ' required' : ''} value="${escapeHtml(f[name] ?? (name === 'timezone' ? 'Asia/Tokyo' : ''))}"></label>`;
  const create = `<form method="post" action="/dashboard/admin/programs" class="filters">${csrfField(ctx.csrf)}
${field('programName', 'name', 'text', true)}${field('legacyService', 'legacyService', 'text', true)}${field('successorService', 'successorService', 'text', true)}
${field('shutdownAt', 'shutdownAt', 'date', true)}${field('spfRecordDeletionAt', 'spfDeletionAt', 'date')}${field('timezone', 'timezone', 'text', true)}
${field('legacyMx', 'legacyMxSuffixes')}${field('legacySpf', 'legacySpfIncludes')}${field('successorMx', 'successorMxSuffixes')}${field('successorSpf', 'successorSpfIncludes')}
<label>${t(lang, 'escalationContact')} <select name="escalationContactId">${ownerOptions(ctx, d.owners, f.escalationContactId, say(lang, 'noneOption'))}</select></label>
<button>${t(lang, 'create')}</button></form>`;
  return `<section aria-labelledby="programs-h"><h2 id="programs-h">${t(lang, 'programsTitle')}</h2>${table(
    'programs-table',
    [t(lang, 'name'), t(lang, 'shutdownAt'), t(lang, 'spfDeletionAt'), t(lang, 'timezone'), t(lang, 'escalationContact')],
    rows,
    t(lang, 'none'),
  )}<h3>${t(lang, 'newProgram')}</h3>${create}</section>`;
}

/** Admin: sales owners (activate, deactivate, manager), tokens (create — shown once —, revoke), programs. */
export function adminPage(ctx: PageContext, d: AdminData, flash: Flash | null) {
  const body = `<h1>${t(ctx.lang, 'adminTitle')}</h1>${tokensSection(ctx, d)}${ownersSection(ctx, d)}${programsSection(ctx, d)}`;
  return page(ctx, say(ctx.lang, 'adminTitle'), body, flash);
}
