import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isAppError } from '../errors.ts';
import type { ActionState, DomainActions, TermChange } from '../outreach/domain-actions.ts';
import { openSelfCheck, recheckSelfCheck, RECHECKS_PER_HOUR, type SelfCheckView } from '../outreach/self-check-service.ts';
import { html, seeOther } from './dashboard-http.ts';
import { domainCell, escapeHtml, publicPage, t, table, type Flash } from './dashboard-layout.ts';
import { dmarcName, formatTime, say, type Lang } from './dashboard-messages.ts';

/*
 * The self-check page a customer's DNS administrator opens from a link, without an account: per domain,
 * expected against actual for MX, SPF, DMARC and DKIM, each done or to do; the deadlines; "check again
 * now". It shows that one customer's domains and nothing else. An unknown, expired or revoked link is
 * the same 404. No script, no referrer, not indexed.
 */

const TokenParams = z.object({ token: z.string().max(200) });
const PageQuery = z.object({ lang: z.enum(['en', 'ja']).optional(), rechecked: z.literal('1').optional() });

/** ?lang= when given, else the browser's first choice between Japanese and English. */
function langOf(request: FastifyRequest): Lang {
  const asked = (request.query as { lang?: string }).lang;
  if (asked === 'ja' || asked === 'en') return asked;
  const ranked = (request.headers['accept-language'] ?? '')
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().toLowerCase().split(';');
      const q = Number(
        params
          .find((p) => p.trim().startsWith('q='))
          ?.trim()
          .slice(2) ?? 1,
      );
      return { lang: tag.split('-')[0], q: Number.isFinite(q) ? q : 0, i };
    })
    .filter((c) => (c.lang === 'ja' || c.lang === 'en') && c.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return ranked[0]?.lang === 'ja' ? 'ja' : 'en';
}

const badge = (lang: Lang, state: ActionState) => {
  const [cls, key] = { done: ['ok', 'stateDone'], todo: ['bad', 'stateTodo'], unknown: ['muted', 'stateUnknown'] }[state] as [string, 'stateDone'];
  return `<strong class="${cls}">${state === 'done' ? '✓ ' : state === 'todo' ? '✗ ' : ''}${t(lang, key)}</strong>`;
};

/** The record to publish, its changes against today's marked (removed struck through, added underlined). */
const termsHtml = (lang: Lang, terms: TermChange[]) =>
  terms
    .map((c) =>
      c.change === 'kept'
        ? escapeHtml(c.term)
        : c.change === 'added'
          ? `<ins title="${t(lang, 'changeAdded')}">${escapeHtml(c.term)}</ins>`
          : `<del title="${t(lang, 'changeRemoved')}">${escapeHtml(c.term)}</del>`,
    )
    .join(' ');

const code = (text: string) => `<code>${escapeHtml(text)}</code>`;
const lines = (items: string[], empty: string) => (items.length > 0 ? items.join('<br>') : empty);

function domainSection(lang: Lang, view: SelfCheckView, d: DomainActions) {
  const legacy = view.program.legacyService;
  const none = `<span class="muted">${t(lang, 'actualNone')}</span>`;
  const spfExpected = [
    ...d.spf.publish.map((p) => `${t(lang, 'expectSpfPublish', { name: p.name })}<pre class="record">${termsHtml(lang, p.terms)}</pre>`),
    ...d.spf.askOwner.map((a) => t(lang, 'expectSpfAsk', { name: a.name, owner: a.owner, term: a.term, legacy })),
  ];
  const rows: string[][] = [
    [
      t(lang, 'itemMx'),
      d.mx.expected.length > 0 ? t(lang, 'expectMx', { hosts: d.mx.expected.join(', ') }) : t(lang, 'expectMxAny', { legacy }),
      lines(
        d.mx.actual.map((h) => `${h.priority} ${code(h.exchange)}`),
        none,
      ),
      badge(lang, d.mx.state),
    ],
    [
      t(lang, 'itemSpf'),
      spfExpected.length > 0 ? spfExpected.join('<br>') : t(lang, 'expectSpfNoLegacy', { legacy }),
      lines(d.spf.actual.map(code), none),
      badge(lang, d.spf.state),
    ],
    [
      t(lang, 'itemDmarc'),
      t(lang, 'expectDmarc', { legacy }),
      d.dmarc.record ? `${code(d.dmarc.record)}<br>${escapeHtml(dmarcName(lang, d.dmarc.policy))}` : none,
      badge(lang, d.dmarc.state),
    ],
    [
      t(lang, 'itemDkim'),
      lines(
        [
          ...d.dkim.remove.map((name) => t(lang, 'expectDkimRemove', { name })),
          ...d.dkim.successor.filter((s) => !s.keyPublished).map((s) => t(lang, 'expectDkimPublish', { name: s.name })),
        ],
        t(lang, 'expectDkimNone', { legacy }),
      ),
      lines(
        d.dkim.successor.map((s) => t(lang, s.keyPublished ? 'actualKeyPublished' : 'actualKeyMissing', { name: s.name })),
        none,
      ),
      badge(lang, d.dkim.state),
    ],
  ];
  const columns = [t(lang, 'selfCheckItem'), t(lang, 'selfCheckExpected'), t(lang, 'selfCheckActual'), t(lang, 'selfCheckState')];
  const checked = d.checkedAt
    ? t(lang, 'selfCheckLastChecked', { at: formatTime(lang, d.checkedAt, view.program.timezone) })
    : t(lang, 'selfCheckNeverChecked');
  const steps = d.instructions[lang];
  return `<section aria-labelledby="d-${escapeHtml(d.name)}"><h2 id="d-${escapeHtml(d.name)}">${domainCell(d)} ${badge(
    lang,
    d.done ? 'done' : d.checkedAt ? 'todo' : 'unknown',
  )}</h2><p class="muted">${checked}</p>${table(`t-${d.name}`, columns, rows, '')}${
    steps.length > 0 && !d.done ? `<h3>${t(lang, 'selfCheckSteps')}</h3><ol>${steps.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ol>` : ''
  }</section>`;
}

function selfCheckPage(request: FastifyRequest, lang: Lang, token: string, view: SelfCheckView, flash: Flash | null) {
  const { program } = view;
  const deadlines = program.spfRecordDeletionAt
    ? t(lang, 'selfCheckDeadlines', { legacy: program.legacyService, shutdown: program.shutdownAt, deletion: program.spfRecordDeletionAt })
    : t(lang, 'selfCheckDeadlineShutdown', { legacy: program.legacyService, shutdown: program.shutdownAt });
  const todo = view.domains.filter((d) => !d.done).length;
  const summary =
    todo === 0
      ? `<p class="ok"><strong>${t(lang, 'selfCheckAllDone')}</strong></p>`
      : `<p class="bad"><strong>${t(lang, 'selfCheckTodoCount', { count: todo })}</strong></p>`;
  const next = view.nextRecheckAt ? `<p class="muted">${t(lang, 'recheckNext', { at: formatTime(lang, view.nextRecheckAt, program.timezone) })}</p>` : '';
  const body = `<section><h1>${t(lang, 'selfCheckTitle')}</h1><p>${t(lang, 'selfCheckIntro', { customer: view.customerName, legacy: program.legacyService })}</p>
<p>${deadlines}</p>${summary}
<form method="post" action="/check/${escapeHtml(token)}/recheck?lang=${lang}"><button>${t(lang, 'recheckNow')}</button></form>${next}</section>
${view.domains.map((d) => domainSection(lang, view, d)).join('')}
<p class="muted">${t(lang, 'selfCheckExpires', { at: formatTime(lang, view.expiresAt, program.timezone) })}</p>`;
  const pendingFlash: Flash | null = view.pending ? { kind: 'notice', html: t(lang, 'recheckPending') } : null;
  return publicPage({ lang, url: request.url }, say(lang, 'selfCheckTitle'), body, flash ?? pendingFlash, view.pending ? 5 : undefined);
}

const gonePage = (request: FastifyRequest, reply: FastifyReply, lang: Lang) =>
  html(
    reply,
    publicPage(
      { lang, url: request.url },
      say(lang, 'selfCheckGoneTitle'),
      `<section><h1>${t(lang, 'selfCheckGoneTitle')}</h1><p>${t(lang, 'selfCheckGoneText')}</p></section>`,
    ),
    404,
  );

export const selfCheckPages: FastifyPluginAsyncZod = async (app) => {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_request, _body, done) => done(null, {}));
  app.addHook('onSend', async (_request, reply) => {
    reply.headers({
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'x-content-type-options': 'nosniff',
      // The URL is the credential: it must never travel in a Referer header.
      'referrer-policy': 'no-referrer',
      'x-robots-tag': 'noindex, nofollow',
      'cache-control': 'no-store',
    });
  });
  // Whatever fails, the answer is a page, and a link that does not work says nothing about why.
  app.setErrorHandler(async (err: Error & { statusCode?: number }, request, reply) => {
    const lang = langOf(request);
    if (isAppError(err, 'selfCheckGone') || (err.statusCode ?? 500) < 500) return gonePage(request, reply, lang);
    request.log.error({ err }, 'self-check page failed');
    return html(reply, publicPage({ lang, url: request.url }, 'Error', '<section><h1>500</h1></section>'), 500);
  });
  app.setNotFoundHandler(async (request, reply) => gonePage(request, reply, langOf(request)));

  app.get('/:token', {
    schema: { hide: true, params: TokenParams, querystring: PageQuery },
    handler: async (request, reply) => {
      const lang = langOf(request);
      const view = await openSelfCheck(app.db, request.params.token, app.now());
      const flash: Flash | null = request.query.rechecked && view.pending ? { kind: 'notice', html: t(lang, 'recheckQueued') } : null;
      return html(reply, selfCheckPage(request, lang, request.params.token, view, flash));
    },
  });

  app.post('/:token/recheck', {
    schema: { hide: true, params: TokenParams, querystring: PageQuery },
    handler: async (request, reply) => {
      const lang = langOf(request);
      const { token } = request.params;
      try {
        await recheckSelfCheck(app.db, token, app.now());
      } catch (err) {
        if (!isAppError(err, 'recheckTooSoon')) throw err;
        const seconds = Number(err.extra.headers?.['retry-after']);
        const flash: Flash = { kind: 'error', html: t(lang, 'recheckTooSoon', { seconds, perHour: RECHECKS_PER_HOUR }) };
        reply.header('retry-after', String(seconds));
        return html(reply, selfCheckPage(request, lang, token, await openSelfCheck(app.db, token, app.now()), flash), 429);
      }
      return seeOther(reply, `/check/${encodeURIComponent(token)}?lang=${lang}&rechecked=1`);
    },
  });
};
