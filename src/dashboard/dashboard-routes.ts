import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { cookieOf, SESSION_COOKIE, setDashboardCookie } from '../http/cookies.ts';
import { roleAllows, type Access } from '../plugins/auth.ts';
import { authenticateSession, endSession, SESSION_ABSOLUTE_MS, startSession } from '../sessions/session-service.ts';
import { authenticateToken } from '../tokens/token-service.ts';
import { adminPages } from './admin-pages.ts';
import { customerPages } from './customer-pages.ts';
import { contextOf, formOf, html, langOf, PageQuery, postAllowed, seeOther } from './dashboard-http.ts';
import { escapeHtml, messagePage, page, t, type PageContext } from './dashboard-layout.ts';
import { programPages } from './program-pages.ts';
import { workPages } from './work-pages.ts';
import { say, type Lang } from './dashboard-messages.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may open a dashboard page: `public` (sign-in) or a role level, as the API's `access`. */
    page?: 'public' | Access;
  }
}

function signInPage(ctx: PageContext, error?: string) {
  const { lang } = ctx;
  return page(
    ctx,
    say(lang, 'signIn'),
    `<section><h1>${t(lang, 'signIn')}</h1>
<form method="post" action="/dashboard/sign-in?lang=${lang}" class="stack"><input type="hidden" name="csrf" value="${escapeHtml(ctx.csrf)}">
<label>${t(lang, 'token')} <input name="token" type="password" autocomplete="off" required size="50"></label>
<button>${t(lang, 'signIn')}</button></form></section>`,
    error ? { kind: 'error', html: escapeHtml(error) } : null,
  );
}

/**
 * The web app: server-rendered HTML forms, no build step and no script. Sign-in takes an API token and
 * starts a server-side session (src/sessions/): the HttpOnly, SameSite=Strict cookie for /dashboard
 * holds only the session's secret. Every page then runs as that token's principal, through the same
 * services and rules as the API (roles, row scopes, versions, audit); a page never writes on its own.
 */
export const dashboardRoutes: FastifyPluginAsyncZod = async (app) => {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16_384 }, (_request, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.addHook('onSend', async (_request, reply) => {
    reply.headers({
      'content-security-policy':
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'x-content-type-options': 'nosniff',
      // Not no-referrer: with it, browsers send `Origin: null` on form posts and the Origin check fails.
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
    });
  });
  // Nothing is open by omission: a page that does not say who may open it fails at start-up.
  app.addHook('onRoute', (route) => {
    if (!route.config?.page) throw new Error(`Dashboard route ${route.method} ${route.url} must declare config.page`);
  });

  const toSignIn = (reply: FastifyReply, lang: Lang) => seeOther(reply, `/dashboard/sign-in?lang=${lang}`);

  /** Signed in (a live session), allowed by role, and for a post, from this site: or answered here. */
  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    const access = request.routeOptions.config.page!;
    if (access === 'public') return;
    const secret = cookieOf(request, SESSION_COOKIE);
    const session = secret ? await authenticateSession(app.db, secret, app.now()) : null;
    if (!session?.ok) return toSignIn(reply, langOf(request, reply));
    request.principal = session.principal;
    const ctx = contextOf(request, reply);
    if (request.method === 'POST' && !postAllowed(request))
      return html(reply, page(ctx, say(ctx.lang, 'forbiddenTitle'), '', { kind: 'error', html: t(ctx.lang, 'crossSite') }), 403);
    if (!roleAllows(access, session.principal.role)) return html(reply, messagePage(ctx, 'forbiddenTitle', 'forbiddenText'), 403);
  });

  // A page's errors are pages: a thing out of scope is not found (as the API's 404), anything else the
  // service refused shows its words; a fault is logged and shown without detail.
  app.setErrorHandler(async (err: Error & { statusCode?: number }, request, reply) => {
    const ctx = contextOf(request, reply);
    const status = err.statusCode ?? 500;
    if (status === 404 || (status === 400 && request.method === 'GET')) return html(reply, messagePage(ctx, 'notFoundTitle', 'notFoundText'), 404);
    if (status < 500) return html(reply, page(ctx, say(ctx.lang, 'forbiddenTitle'), '', { kind: 'error', html: escapeHtml(err.message) }), status);
    request.log.error({ err }, 'dashboard page failed');
    return html(reply, page(ctx, 'Error', '<section><h1>500</h1></section>'), 500);
  });
  app.setNotFoundHandler(async (request, reply) => html(reply, messagePage(contextOf(request, reply), 'notFoundTitle', 'notFoundText'), 404));

  app.get('/sign-in', {
    config: { page: 'public' },
    schema: { hide: true, querystring: PageQuery },
    handler: async (request, reply) => html(reply, signInPage(contextOf(request, reply))),
  });

  app.post('/sign-in', {
    config: { page: 'public' },
    schema: { hide: true, querystring: PageQuery },
    handler: async (request, reply) => {
      const ctx = contextOf(request, reply);
      if (!postAllowed(request)) return html(reply, signInPage(ctx, say(ctx.lang, 'crossSite')), 403);
      const result = await authenticateToken(app.db, (formOf(request).token ?? '').trim(), app.now());
      if (!result.ok) return html(reply, signInPage(ctx, ctx.lang === 'ja' ? say('ja', 'badToken') : result.reason), 401);
      // The browser gets a session's secret, never the token: a stolen cookie is not an API bearer,
      // and signing out (or revoking the token) ends it.
      const { secret } = await startSession(app.db, result.row.id, request.headers['user-agent'], app.now());
      setDashboardCookie(request, reply, SESSION_COOKIE, secret, SESSION_ABSOLUTE_MS / 1000);
      return seeOther(reply, `/dashboard?lang=${ctx.lang}`);
    },
  });

  app.post('/sign-out', {
    config: { page: 'public' },
    schema: { hide: true },
    handler: async (request, reply) => {
      const ctx = contextOf(request, reply);
      if (!postAllowed(request)) return html(reply, signInPage(ctx, say(ctx.lang, 'crossSite')), 403);
      const secret = cookieOf(request, SESSION_COOKIE);
      if (secret) await endSession(app.db, secret, app.now());
      setDashboardCookie(request, reply, SESSION_COOKIE, '', 0);
      return toSignIn(reply, ctx.lang);
    },
  });

  await app.register(workPages);
  await app.register(customerPages);
  await app.register(programPages);
  await app.register(adminPages);
};
