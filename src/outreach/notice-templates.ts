import type { DomainActions } from './domain-actions.ts';

/*
 * The outreach notice: a subject and a body per language, with placeholders the service fills in for
 * one customer. A program may replace the shipped wording (PUT …/notice-templates); a template may use
 * only the placeholders below, so a typo is refused when it is saved, not sent to a customer.
 */

export type NoticeLang = 'ja' | 'en';
export const noticeLangs = ['ja', 'en'] as const;

export const placeholders = {
  customer_name: 'The customer’s name',
  contact_name: 'The technical contact’s name (empty when there is none)',
  sales_owner_name: 'The customer’s sales owner',
  legacy_service: 'The service being shut down',
  successor_service: 'The service customers move to',
  shutdown_date: 'The shutdown date, in the program’s words for the language',
  deletion_date: 'When the legacy SPF record is deleted (the shutdown date when none is set)',
  domains: 'Per domain, what to change: MX, the exact SPF record to publish, DKIM selectors, whom to ask',
  self_check_url: 'The customer’s self-check page (empty when the customer has no live link)',
} as const;
export type Placeholder = keyof typeof placeholders;

export interface NoticeTemplate {
  subject: string;
  body: string;
}

export const defaultTemplates: Record<NoticeLang, NoticeTemplate> = {
  ja: {
    subject: '【重要】{{legacy_service}} 終了に伴う DNS 設定変更のお願い（{{customer_name}} 様）',
    body: `{{customer_name}}
{{contact_name}} 様

いつもお世話になっております。担当の {{sales_owner_name}} です。

{{legacy_service}} は {{shutdown_date}} に提供を終了し、{{deletion_date}} に SPF レコードを削除します。
削除後も {{successor_service}} からのメールが受信側で拒否されないよう、以下の DNS 設定の変更をお願いいたします。

{{domains}}

変更後の状態は次のページでいつでも確認できます（ログインは不要です）。
{{self_check_url}}

ご不明な点は {{sales_owner_name}} までお問い合わせください。
`,
  },
  en: {
    subject: 'Action needed: DNS changes before {{legacy_service}} ends ({{customer_name}})',
    body: `Dear {{contact_name}},

{{legacy_service}} ends on {{shutdown_date}}, and its SPF record is deleted on {{deletion_date}}.
So that mail sent through {{successor_service}} is not rejected after that, please make these changes in the DNS of {{customer_name}}:

{{domains}}

You can check your settings at any time on this page (no sign-in needed):
{{self_check_url}}

If anything is unclear, please contact {{sales_owner_name}}.
`,
  },
};

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** What is wrong with a template (unknown placeholders, a stray brace, a body without the domains), by field. */
export function templateProblems(template: NoticeTemplate): { field: 'subject' | 'body'; message: string }[] {
  const problems: { field: 'subject' | 'body'; message: string }[] = [];
  for (const field of ['subject', 'body'] as const) {
    const text = template[field];
    for (const [, name] of text.matchAll(PLACEHOLDER)) {
      if (!(name! in placeholders)) problems.push({ field, message: `unknown placeholder {{${name}}} (known: ${Object.keys(placeholders).join(', ')})` });
    }
    if (/\{\{|\}\}/.test(text.replace(PLACEHOLDER, ''))) problems.push({ field, message: 'has an unmatched {{ or }}' });
  }
  if (/\{\{\s*domains\s*\}\}/.test(template.subject)) problems.push({ field: 'subject', message: '{{domains}} spans several lines: use it in the body' });
  if (!/\{\{\s*domains\s*\}\}/.test(template.body)) problems.push({ field: 'body', message: 'must contain {{domains}}: a notice says what to change' });
  return problems;
}

/** The template with each placeholder replaced (`values` must hold them all). */
export function fill(text: string, values: Record<Placeholder, string>) {
  return text.replace(PLACEHOLDER, (_all, name: string) => values[name as Placeholder] ?? '');
}

/** A date (YYYY-MM-DD) as the language writes it. */
export function noticeDate(lang: NoticeLang, date: string) {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  if (lang === 'ja') return `${y}年${m}月${d}日`;
  const month = new Intl.DateTimeFormat('en-GB', { month: 'long', timeZone: 'UTC' }).format(new Date(Date.UTC(y, m - 1, d)));
  return `${d} ${month} ${y}`;
}

const words = {
  en: {
    nothing: 'nothing to change: ready for the shutdown.',
    unchecked: 'not checked yet; we will tell you what to change once it is.',
    mx: (hosts: string, now: string) => `MX: point the MX records to hosts under ${hosts} (now: ${now}).`,
    mxAny: (now: string) => `MX: move the MX records off the legacy service (now: ${now}).`,
    spf: (name: string) => `SPF: replace the SPF record of ${name} with exactly:`,
    ask: (a: { name: string; owner: string; term: string }) =>
      `SPF: ${a.name} still refers to the legacy record (${a.term}); ask its owner (${a.owner}) to remove it.`,
    spfOther: 'SPF: remove the reference to the legacy record (see the self-check page for details).',
    dkimRemove: (name: string) => `DKIM: delete ${name} (it points at the legacy service).`,
    dkimPublish: (name: string) => `DKIM: publish ${name} for the new service.`,
  },
  ja: {
    nothing: '変更は不要です（移行済み）。',
    unchecked: 'まだ確認できていません。確認でき次第、変更内容をお知らせします。',
    mx: (hosts: string, now: string) => `MX: MX レコードを ${hosts} 配下のホストに向けてください（現在: ${now}）。`,
    mxAny: (now: string) => `MX: MX レコードを旧サービス以外に向けてください（現在: ${now}）。`,
    spf: (name: string) => `SPF: ${name} の SPF レコードを次のとおり置き換えてください:`,
    ask: (a: { name: string; owner: string; term: string }) =>
      `SPF: ${a.name} が旧サービスのレコードを参照しています（${a.term}）。管理者（${a.owner}）に削除を依頼してください。`,
    spfOther: 'SPF: 旧サービスのレコードへの参照を削除してください（詳細はセルフチェックのページをご覧ください）。',
    dkimRemove: (name: string) => `DKIM: ${name} を削除してください（旧サービスを指しています）。`,
    dkimPublish: (name: string) => `DKIM: 新サービス用に ${name} を公開してください。`,
  },
};

/** One domain's changes as lines; a record to publish is a line of its own, `record: true`. */
export function domainLines(lang: NoticeLang, d: DomainActions): { text: string; record?: boolean }[] {
  const w = words[lang];
  if (d.done) return [{ text: w.nothing }];
  if (!d.checkedAt) return [{ text: w.unchecked }];
  const out: { text: string; record?: boolean }[] = [];
  if (d.mx.state === 'todo') {
    const now = d.mx.actual.map((h) => h.exchange).join(', ');
    out.push({ text: d.mx.expected.length > 0 ? w.mx(d.mx.expected.join(', '), now) : w.mxAny(now) });
  }
  for (const p of d.spf.publish) out.push({ text: w.spf(p.name) }, { text: p.record, record: true });
  for (const a of d.spf.askOwner) out.push({ text: w.ask(a) });
  if (d.spf.state === 'todo' && d.spf.publish.length === 0 && d.spf.askOwner.length === 0) out.push({ text: w.spfOther });
  for (const name of d.dkim.remove) out.push({ text: w.dkimRemove(name) });
  for (const s of d.dkim.successor.filter((x) => !x.keyPublished)) out.push({ text: w.dkimPublish(s.name) });
  return out.length > 0 ? out : [{ text: w.nothing }];
}

/** The {{domains}} block as plain text: a heading per domain, its changes, records indented alone on their line. */
export function domainsText(lang: NoticeLang, domains: DomainActions[]) {
  return domains.map((d) => [`■ ${d.displayName}`, ...domainLines(lang, d).map((l) => (l.record ? `    ${l.text}` : `  - ${l.text}`))].join('\n')).join('\n\n');
}
