import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { cookieOf, SESSION_COOKIE, setDashboardCookie } from '../http/cookies.ts';
import { listPrograms } from '../programs/program-service.ts';
import type { Principal } from '../access/access.ts';
import { readiness } from '../reports/readiness-service.ts';
import { blastRadius, requireProgram } from '../reports/report-service.ts';
import { authenticateSession, endSession, SESSION_ABSOLUTE_MS, startSession } from '../sessions/session-service.ts';
import { authenticateToken } from '../tokens/token-service.ts';
import { programPage, programsPage, signInPage, type Lang } from './dashboard-views.ts';

const CSRF_COOKIE = 'mdt_csrf';

function langOf(request: FastifyRequest): Lang {
  const asked = (request.query as { lang?: string } | undefined)?.lang;
  if (asked === 'ja' || asked === 'en') return asked;
  return /^ja\b/i.test(request.headers['accept-language'] ?? '') ? 'ja' : 'en';
}

/**
 * Form posts must come from this site, and carry the double-submit token: a random value in an
 * HttpOnly, SameSite=Strict cookie that every form repeats in a hidden field. Three lines against
 * cross-site request forgery, sign-in included (login CSRF).
 */
function postAllowed(request: FastifyRequest) {
  const origin = request.headers.origin;
  if (origin === undefined || origin !== `${request.protocol}://${request.host}`) return false;
  const cookie = Buffer.from(cookieOf(request, CSRF_COOKIE) ?? '');
  const sent = Buffer.from(String((request.body as { csrf?: unknown } | undefined)?.csrf ?? ''));
  return cookie.length === 43 && sent.length === cookie.length && timingSafeEqual(cookie, sent);
}

/** The visitor's CSRF token, set as a cookie on first sight. */
function csrfToken(request: FastifyRequest, reply: FastifyReply) {
  const existing = cookieOf(request, CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const fresh = randomBytes(32).toString('base64url');
  setDashboardCookie(request, reply, CSRF_COOKIE, fresh);
  return fresh;
}

const html = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(body);

/**
 * The management dashboard: server-rendered HTML, no build step. Sign-in takes an API token and starts
 * a server-side session (src/sessions/): the HttpOnly, SameSite=Strict cookie for /dashboard holds only
 * the session's secret; every page applies the token's role visibility exactly as the API does.
 */
export const dashboardRoutes: FastifyPluginAsyncZod = async (app) => {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_request, body, done) =>
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

  async function principal(request: FastifyRequest): Promise<Principal | null> {
    const secret = cookieOf(request, SESSION_COOKIE);
    if (!secret) return null;
    const result = await authenticateSession(app.db, secret, app.now());
    return result.ok ? result.principal : null;
  }
  const toSignIn = (reply: FastifyReply, lang: Lang) => reply.code(303).header('location', `/dashboard/sign-in?lang=${lang}`).send();
  const Lang = z.object({ lang: z.enum(['en', 'ja']).optional() });

  app.get('/sign-in', {
    schema: { hide: true, querystring: Lang },
    handler: async (request, reply) => html(reply, signInPage(langOf(request), csrfToken(request, reply))),
  });

  app.post('/sign-in', {
    schema: { hide: true, querystring: Lang },
    handler: async (request, reply) => {
      const lang = langOf(request);
      if (!postAllowed(request)) return html(reply, signInPage(lang, csrfToken(request, reply), 'Cross-site request refused.'), 403);
      const token = String((request.body as { token?: unknown } | undefined)?.token ?? '').trim();
      const result = await authenticateToken(app.db, token, app.now());
      if (!result.ok) return html(reply, signInPage(lang, csrfToken(request, reply), lang === 'ja' ? 'トークンが無効です。' : result.reason), 401);
      // The browser gets a session's secret, never the token: a stolen cookie is not an API bearer,
      // and signing out (or revoking the token) ends it.
      const { secret } = await startSession(app.db, result.row.id, request.headers['user-agent'], app.now());
      setDashboardCookie(request, reply, SESSION_COOKIE, secret, SESSION_ABSOLUTE_MS / 1000);
      return reply.code(303).header('location', `/dashboard?lang=${lang}`).send();
    },
  });

  app.post('/sign-out', {
    schema: { hide: true },
    handler: async (request, reply) => {
      if (!postAllowed(request)) return html(reply, signInPage(langOf(request), csrfToken(request, reply), 'Cross-site request refused.'), 403);
      const secret = cookieOf(request, SESSION_COOKIE);
      if (secret) await endSession(app.db, secret, app.now());
      setDashboardCookie(request, reply, SESSION_COOKIE, '', 0);
      return toSignIn(reply, langOf(request));
    },
  });

  app.get('/', {
    schema: { hide: true, querystring: Lang },
    handler: async (request, reply) => {
      const lang = langOf(request);
      if (!(await principal(request))) return toSignIn(reply, lang);
      const { items } = await listPrograms(app.db, 200);
      return html(reply, programsPage(lang, csrfToken(request, reply), items));
    },
  });

  app.get('/programs/:id', {
    schema: { hide: true, querystring: Lang, params: z.object({ id: z.uuid() }) },
    handler: async (request, reply) => {
      const lang = langOf(request);
      const viewer = await principal(request);
      if (!viewer) return toSignIn(reply, lang);
      const program = await requireProgram(app.db, request.params.id);
      const report = await readiness(app.db, program.id, viewer, app.now());
      const blast = await blastRadius(app.db, program.id, viewer, 50);
      return html(reply, programPage(lang, csrfToken(request, reply), program, report, blast.items));
    },
  });
};
