import type { Principal } from '../access/access.ts';
import { mixedScriptLabels } from '../lib/lookalikes.ts';
import { say, type Lang, type MessageKey } from './dashboard-messages.ts';

/*
 * The frame every page shares: the header with the navigation and the language switch, the flash
 * message, the style sheet. Pages are plain HTML forms: each works without JavaScript (there is none).
 */

export const escapeHtml = (value: unknown) =>
  String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A message, escaped for HTML, its placeholders filled with escaped values. */
export const t = (lang: Lang, key: MessageKey, values: Record<string, string | number> = {}) => escapeHtml(say(lang, key, values));

export const csrfField = (csrf: string) => `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">`;

/** What every page needs to draw its frame. */
export interface PageContext {
  lang: Lang;
  csrf: string;
  /** The path and query the page was asked with, for the language switch. */
  url: string;
  viewer: Principal | null;
}

/** A flash message: a notice (role=status) or an error (role=alert). */
export interface Flash {
  kind: 'notice' | 'error';
  html: string;
}

/** Same page, other language. */
function switchLanguage(url: string, lang: Lang) {
  const u = new URL(url, 'http://x');
  u.searchParams.set('lang', lang === 'ja' ? 'en' : 'ja');
  return `${u.pathname}${u.search}`;
}

/** A URL under /dashboard with a query built from `params` (empty values dropped, arrays repeated). */
export function href(path: string, params: Record<string, string | string[] | number | null | undefined> = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of [v].flat()) if (one !== undefined && one !== null && one !== '') q.append(k, String(one));
  }
  const s = q.toString();
  return `/dashboard${path}${s ? `?${s}` : ''}`;
}

const style = `
*{box-sizing:border-box}
body{font-family:system-ui,"Hiragino Sans","Noto Sans JP","IPAGothic",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9;line-height:1.45}
a{color:#0b57a4}a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f0b429;outline-offset:1px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;padding:.25rem .5rem;z-index:2}
header{background:#12355b;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}
header a{color:#fff}header nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;flex:1 1 auto}header nav a[aria-current]{font-weight:700;text-decoration:underline 2px}
header form{margin:0}header .who{font-size:.85rem;opacity:.9}
main{padding:1rem;max-width:1200px;margin:auto}
section{background:#fff;border-radius:8px;padding:1rem;margin-bottom:1rem;box-shadow:0 1px 2px #0002;overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.25rem 0 1rem}h2{font-size:1.2rem;margin:0 0 .75rem}h3{font-size:1rem}
.cards{display:flex;flex-wrap:wrap;gap:.75rem;margin-bottom:1rem}.card{flex:1 1 9rem;background:#fff;border-radius:8px;padding:.75rem;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:1.6rem}.card a{text-decoration:none;color:inherit;display:block}.card a:hover b{text-decoration:underline}
.ok{color:#166b2c}.bad{color:#b3261e}.muted{color:#555}.badge{display:inline-block;border-radius:4px;padding:0 .35rem;font-size:.8rem;background:#fde7e9;color:#8c1d18}
.flash{padding:.75rem 1rem;border-radius:8px;margin-bottom:1rem}.flash.notice{background:#e6f4ea}.flash.error{background:#fde7e9}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f1f3f5}code{font-size:.85rem;word-break:break-all;background:#f1f3f5;padding:0 .2rem}
pre{white-space:pre-wrap;word-break:break-all;background:#f1f3f5;padding:.5rem;border-radius:4px}
form.inline{display:inline-flex;flex-wrap:wrap;gap:.35rem;align-items:center;margin:.15rem 0}
fieldset{border:1px solid #d0d7de;border-radius:6px;margin:0 0 .75rem}legend{font-weight:600}
label{display:inline-block;margin:.15rem .5rem .15rem 0}.stack label{display:block;margin:.4rem 0}
input,select,textarea,button{font:inherit;max-width:100%}input[type=text],input[type=email],input[type=date],input[type=password],input[type=number],select,textarea{padding:.3rem;border:1px solid #8a949e;border-radius:4px}
textarea{width:100%}
button{padding:.35rem .75rem;border-radius:6px;border:1px solid #12355b;background:#12355b;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#12355b}
.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end}.filters fieldset{margin:0}
.checks label{font-weight:400}
svg{width:100%;height:auto;max-width:760px}
.pager{display:flex;gap:1rem;margin-top:.75rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{font-weight:600}dd{margin:0}
@media (max-width:700px){
  main{padding:.5rem}section{padding:.75rem}
  table.stack thead{position:absolute;left:-9999px}
  table.stack tr{display:block;border-bottom:2px solid #d0d7de;padding:.25rem 0}
  table.stack td{display:block;border:0;padding:.2rem .25rem}
  table.stack td::before{content:attr(data-label);display:block;font-size:.8rem;font-weight:600;color:#444}
  table.stack td:empty,table.stack td[data-label=""]::before{display:none}
  dl{grid-template-columns:1fr}dt{margin-top:.4rem}
}`;

/** The frame: header (navigation for the viewer's role, language switch, sign-out), flash, main. */
export function page(ctx: PageContext, title: string, body: string, flash?: Flash | null) {
  const { lang, viewer } = ctx;
  const current = new URL(ctx.url, 'http://x').pathname;
  const link = (path: string, key: MessageKey) => {
    const active = path === '/dashboard' ? current === path || current === '/dashboard/work' : current.startsWith(path);
    return `<a href="${path}"${active ? ' aria-current="page"' : ''}>${t(lang, key)}</a>`;
  };
  const nav = viewer
    ? `<nav aria-label="main">${viewer.salesOwnerId ? link('/dashboard/work', 'navWork') : ''}${link('/dashboard/customers', 'navCustomers')}${link(
        '/dashboard/programs',
        'navPrograms',
      )}${viewer.role === 'admin' ? link('/dashboard/admin', 'navAdmin') : ''}</nav>`
    : '<nav aria-label="main"></nav>';
  const signOut = viewer
    ? `<span class="who">${escapeHtml(viewer.name)}</span><form method="post" action="/dashboard/sign-out">${csrfField(ctx.csrf)}<button class="secondary">${t(lang, 'signOut')}</button></form>`
    : '';
  return documentOf(ctx, `${title} — ${say(lang, 'appTitle')}`, `<strong>${t(lang, 'appTitle')}</strong>${nav}`, signOut, body, flash);
}

/** The HTML document around a page: head, header (its title, the language switch), flash, main. */
function documentOf(ctx: Pick<PageContext, 'lang' | 'url'>, title: string, brand: string, trailer: string, body: string, flash?: Flash | null, head = '') {
  const { lang } = ctx;
  const flashHtml = flash ? `<div class="flash ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">${flash.html}</div>` : '';
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><link rel="icon" href="data:,">${head}<title>${escapeHtml(title)}</title><style>${style}</style></head>
<body><a class="skip" href="#main">${t(lang, 'skipToContent')}</a><header>${brand}<a href="${escapeHtml(switchLanguage(ctx.url, lang))}" lang="${
    lang === 'ja' ? 'en' : 'ja'
  }">${t(lang, 'otherLanguage')}</a>${trailer}</header>
<main id="main">${flashHtml}${body}</main></body></html>`;
}

/**
 * A page for someone without an account (the self-check page): no navigation, no sign-out; it may
 * reload itself every `refreshSeconds` (a meta refresh: the pages have no script).
 */
export function publicPage(ctx: Pick<PageContext, 'lang' | 'url'>, title: string, body: string, flash?: Flash | null, refreshSeconds?: number) {
  const head = refreshSeconds ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : '';
  return documentOf(ctx, title, `<strong>${escapeHtml(title)}</strong><span style="flex:1"></span>`, '', body, flash, head);
}

/** A table that stacks into label/value rows on a phone: `columns` label the cells. */
export function table(id: string, columns: string[], rows: string[][], empty: string) {
  if (rows.length === 0) return `<p id="${id}" class="muted">${empty}</p>`;
  const head = columns.map((c) => `<th scope="col">${c}</th>`).join('');
  const body = rows
    .map((cells) => `<tr>${cells.map((cell, i) => `<td data-label="${escapeHtml(stripTags(columns[i] ?? ''))}">${cell}</td>`).join('')}</tr>`)
    .join('');
  return `<table id="${id}" class="stack"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

const stripTags = (html: string) => html.replace(/<[^>]*>/g, '');

/** A domain as people read it; one that mixes scripts (a possible look-alike) also in punycode, flagged. */
export function domainCell(d: { name: string; displayName: string }) {
  if (mixedScriptLabels(d.displayName).length === 0) return escapeHtml(d.displayName);
  return `${escapeHtml(d.displayName)} <span class="bad" title="mixed scripts: a possible look-alike">(${escapeHtml(d.name)})</span>`;
}

/** The page for a missing or forbidden thing, in the frame. */
export function messagePage(ctx: PageContext, titleKey: MessageKey, textKey: MessageKey) {
  return page(ctx, say(ctx.lang, titleKey), `<section><h1>${t(ctx.lang, titleKey)}</h1><p>${t(ctx.lang, textKey)}</p></section>`);
}
