import { mixedScriptLabels } from '../lib/lookalikes.ts';
import type { readiness } from '../reports/readiness-service.ts';

type Readiness = Awaited<ReturnType<typeof readiness>>;
export type Lang = 'en' | 'ja';

const text = {
  en: {
    title: 'Mail decommission',
    signIn: 'Sign in',
    token: 'API token',
    signOut: 'Sign out',
    programs: 'Programs',
    badToken: 'That token is not valid.',
    shutdownIn: 'days to the shutdown',
    deletionIn: 'days to the SPF-record deletion',
    gates: 'Gates',
    mxGate: 'MX cutover ready',
    spfGate: 'SPF record deletion safe',
    yes: 'yes',
    no: 'no',
    evidence: 'evidence as of',
    customers: 'Customers',
    migrated: 'migrated',
    completed: 'completed',
    domains: 'Domains',
    blast: 'would break at deletion',
    legacyMx: 'MX still on legacy',
    stale: 'not verified in 48 h',
    unverified: 'unverified',
    burndown: 'Burndown',
    notMigrated: 'customers not migrated',
    notClean: 'domains not clean',
    projection: 'Projection',
    onTime: 'on time',
    late: 'late',
    never: 'no progress in 14 days',
    owners: 'Sales owners',
    owner: 'Owner',
    department: 'Department',
    open: 'Open tasks',
    overdue: 'Overdue',
    atRisk: 'At risk',
    atRiskList: 'Customers at risk',
    blastList: 'Blast radius (DMARC reject first)',
    suggested: 'Publish instead',
    status: 'Status',
    none: 'None.',
    notFound: 'domains not found in DNS (not dismissed)',
  },
  ja: {
    title: 'メールサービス移行',
    signIn: 'サインイン',
    token: 'API トークン',
    signOut: 'サインアウト',
    programs: 'プログラム',
    badToken: 'トークンが無効です。',
    shutdownIn: '日後にサービス終了',
    deletionIn: '日後に SPF レコード削除',
    gates: '判定',
    mxGate: 'MX 切替完了',
    spfGate: 'SPF レコード削除可',
    yes: 'はい',
    no: 'いいえ',
    evidence: '確認時点',
    customers: '顧客',
    migrated: '移行済み',
    completed: '完了',
    domains: 'ドメイン',
    blast: '削除で障害となるドメイン',
    legacyMx: '旧サービス MX のまま',
    stale: '48 時間未確認',
    unverified: '未確認',
    burndown: '推移',
    notMigrated: '未移行の顧客',
    notClean: '未対応のドメイン',
    projection: '見通し',
    onTime: '期限内',
    late: '期限超過',
    never: '14 日間進捗なし',
    owners: '営業担当',
    owner: '担当',
    department: '部署',
    open: '未完了タスク',
    overdue: '期限切れ',
    atRisk: '要注意',
    atRiskList: '要注意の顧客',
    blastList: '影響範囲（DMARC reject を優先）',
    suggested: '推奨レコード',
    status: 'ステータス',
    none: 'ありません。',
    notFound: 'DNS に存在しないドメイン（確認待ち）',
  },
} as const;

export const escapeHtml = (value: unknown) =>
  String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** `csrf`: the double-submit token every form repeats; `signedIn` adds the sign-out button. */
function page(lang: Lang, title: string, body: string, csrf: string, signedIn = true) {
  const t = text[lang];
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title><style>
body{font-family:system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{display:flex;justify-content:space-between;align-items:center;padding:.75rem 1rem;background:#12355b;color:#fff}
header a{color:#fff}main{padding:1rem;max-width:1100px;margin:auto}
section{background:#fff;border-radius:8px;padding:1rem;margin-bottom:1rem;box-shadow:0 1px 2px #0001}
.cards{display:flex;flex-wrap:wrap;gap:.75rem}.card{flex:1 1 10rem;background:#fff;border-radius:8px;padding:.75rem;box-shadow:0 1px 2px #0001}
.card b{display:block;font-size:1.6rem}.ok{color:#1a7f37}.bad{color:#c62828}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e5e7eb}
.scroll{overflow-x:auto}svg{width:100%;height:auto}code{font-size:.8rem;word-break:break-all}
</style></head><body><header><strong>${escapeHtml(t.title)}</strong>${
    signedIn ? `<form method="post" action="/dashboard/sign-out">${csrfField(csrf)}<button>${t.signOut}</button></form>` : ''
  }</header><main>${body}</main></body></html>`;
}

const csrfField = (csrf: string) => `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">`;

export function signInPage(lang: Lang, csrf: string, error?: string) {
  const t = text[lang];
  return page(
    lang,
    t.signIn,
    `<section><h1>${t.signIn}</h1>${error ? `<p class="bad" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/dashboard/sign-in?lang=${lang}">${csrfField(csrf)}<label>${t.token} <input name="token" type="password" autocomplete="off" required size="50"></label>
<button>${t.signIn}</button></form></section>`,
    csrf,
    false,
  );
}

export function programsPage(lang: Lang, csrf: string, programs: { id: string; name: string; shutdownAt: string }[]) {
  const t = text[lang];
  const items = programs
    .map((p) => `<li><a href="/dashboard/programs/${p.id}?lang=${lang}">${escapeHtml(p.name)}</a> — ${escapeHtml(p.shutdownAt)}</li>`)
    .join('');
  return page(lang, t.programs, `<section><h1>${t.programs}</h1><ul>${items || `<li>${t.none}</li>`}</ul></section>`, csrf);
}

/** The burndown as an inline SVG line chart: customers not migrated and domains not clean per day. */
export function burndownSvg(points: Readiness['burndown'], labels: { customers: string; domains: string }) {
  const w = 640;
  const h = 220;
  const pad = 30;
  const max = Math.max(1, ...points.flatMap((p) => [p.customersNotMigrated, p.domainsNotClean]));
  const x = (i: number) => pad + (points.length <= 1 ? 0 : (i * (w - 2 * pad)) / (points.length - 1));
  const y = (v: number) => h - pad - (v * (h - 2 * pad)) / max;
  const line = (f: (p: Readiness['burndown'][number]) => number) => points.map((p, i) => `${x(i).toFixed(1)},${y(f(p)).toFixed(1)}`).join(' ');
  const first = points[0]?.day ?? '';
  const last = points[points.length - 1]?.day ?? '';
  return `<svg viewBox="0 0 ${w} ${h}" role="img" aria-label="burndown" data-points="${points.length}">
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#999"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#999"/>
<text x="${pad}" y="${h - 8}" font-size="11">${escapeHtml(first)}</text><text x="${w - pad}" y="${h - 8}" font-size="11" text-anchor="end">${escapeHtml(last)}</text>
<text x="4" y="${pad}" font-size="11">${max}</text>
<polyline class="series-customers" fill="none" stroke="#12355b" stroke-width="2" points="${line((p) => p.customersNotMigrated)}"/>
<polyline class="series-domains" fill="none" stroke="#c77700" stroke-width="2" points="${line((p) => p.domainsNotClean)}"/>
<text x="${w - pad}" y="${pad}" font-size="11" text-anchor="end" fill="#12355b">${escapeHtml(labels.customers)}</text>
<text x="${w - pad}" y="${pad + 14}" font-size="11" text-anchor="end" fill="#c77700">${escapeHtml(labels.domains)}</text></svg>`;
}

/** A domain as people read it; one that mixes scripts (a possible look-alike) also in punycode, flagged. */
function domainCell(d: { domain: string; displayName: string }) {
  if (mixedScriptLabels(d.displayName).length === 0) return escapeHtml(d.displayName);
  return `${escapeHtml(d.displayName)} <span class="bad" title="mixed scripts: a possible look-alike">(${escapeHtml(d.domain)})</span>`;
}

export function programPage(
  lang: Lang,
  csrf: string,
  program: { name: string },
  r: Readiness,
  blast: { domain: string; displayName: string; dmarcPolicy: string | null; customerName: string; salesOwnerName: string; suggestedRecord: string | null }[],
) {
  const t = text[lang];
  const yesNo = (v: boolean) => `<span class="${v ? 'ok' : 'bad'}">${v ? t.yes : t.no}</span>`;
  const phase = (p: Readiness['projection']['migration'], label: string) =>
    `<li>${escapeHtml(label)}: ${p.projectedAt ? `${escapeHtml(p.projectedAt)} (${p.onTime ? `<span class="ok">${t.onTime}</span>` : `<span class="bad">${t.late}</span>`}, ${escapeHtml(p.deadline)})` : `<span class="bad">${t.never}</span>`}</li>`;
  const statusRows = Object.entries(r.customers.statusCounts)
    .map(([s, n]) => `<tr><td>${escapeHtml(s)}</td><td data-status="${escapeHtml(s)}">${n}</td></tr>`)
    .join('');
  const owners = r.bySalesOwner
    .map(
      (o) => `<tr><td>${escapeHtml(o.department)}</td><td>${escapeHtml(o.name)}</td><td>${o.openTasks}</td><td>${o.overdueTasks}</td><td>${o.atRisk}</td></tr>`,
    )
    .join('');
  const atRisk = r.atRiskCustomers
    .map((c) => `<li><b>${escapeHtml(c.name)}</b> (${escapeHtml(c.status)}, ${escapeHtml(c.salesOwner)}): ${escapeHtml(c.reasons.join('; '))}</li>`)
    .join('');
  const blastRows = blast
    .map(
      (b) =>
        `<tr><td>${domainCell(b)}</td><td>${escapeHtml(b.dmarcPolicy ?? '—')}</td><td>${escapeHtml(b.customerName)}</td><td>${escapeHtml(b.salesOwnerName)}</td><td><code>${escapeHtml(b.suggestedRecord ?? '')}</code></td></tr>`,
    )
    .join('');
  const body = `<h1>${escapeHtml(program.name)}</h1>
<div class="cards">
<div class="card"><b id="days-to-shutdown">${r.daysToShutdown}</b>${t.shutdownIn}</div>
${r.daysToSpfRecordDeletion === null ? '' : `<div class="card"><b>${r.daysToSpfRecordDeletion}</b>${t.deletionIn}</div>`}
<div class="card"><b id="migrated-percent">${r.customers.migratedPercent}%</b>${t.migrated}</div>
<div class="card"><b>${r.customers.completedPercent}%</b>${t.completed}</div>
<div class="card"><b id="blast-radius">${r.domains.blastRadius}</b>${t.blast}</div>
<div class="card"><b>${r.domains.mxOnLegacy}</b>${t.legacyMx}</div>
<div class="card"><b>${r.domains.notVerifiedIn48h}</b>${t.stale}</div>
<div class="card"><b id="domains-not-found">${r.domains.notFound}</b>${t.notFound}</div></div>
<section><h2>${t.gates}</h2><ul><li>${t.mxGate}: <span id="gate-mx">${yesNo(r.gates.mxCutoverReady.ready)}</span></li>
<li>${t.spfGate}: <span id="gate-spf">${yesNo(r.gates.spfRecordDeletionSafe.safe)}</span> (${t.evidence} ${escapeHtml(r.gates.spfRecordDeletionSafe.evidenceAsOf ?? '—')}, ${t.unverified}: ${r.gates.spfRecordDeletionSafe.unverified})</li></ul></section>
<section><h2>${t.burndown}</h2>${burndownSvg(r.burndown, { customers: t.notMigrated, domains: t.notClean })}
<h3>${t.projection}</h3><ul>${phase(r.projection.migration, t.notMigrated)}${phase(r.projection.spfCleanup, t.notClean)}</ul></section>
<section><h2>${t.customers}</h2><div class="scroll"><table id="status-table"><tr><th>${t.status}</th><th>#</th></tr>${statusRows}</table></div></section>
<section><h2>${t.owners}</h2><div class="scroll"><table id="owner-table"><tr><th>${t.department}</th><th>${t.owner}</th><th>${t.open}</th><th>${t.overdue}</th><th>${t.atRisk}</th></tr>${owners}</table></div></section>
<section><h2>${t.atRiskList}</h2><ol id="at-risk">${atRisk || `<li>${t.none}</li>`}</ol></section>
<section><h2>${t.blastList}</h2><div class="scroll"><table id="blast-table"><tr><th>${t.domains}</th><th>DMARC</th><th>${t.customers}</th><th>${t.owner}</th><th>${t.suggested}</th></tr>${blastRows}</table></div></section>`;
  return page(lang, program.name, body, csrf);
}
