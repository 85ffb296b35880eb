import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError, validationError } from '../errors.ts';
import { cookieOf, setDashboardCookie } from '../http/cookies.ts';
import { t, type Flash, type PageContext } from './dashboard-layout.ts';
import { statusName, type Lang } from './dashboard-messages.ts';

/*
 * What the pages' routes share: the language, the CSRF token, form bodies, answering with HTML.
 */

const CSRF_COOKIE = 'mdt_csrf';
const LANG_COOKIE = 'mdt_lang';

/** The page's language: `?lang=` (remembered in a cookie), else the cookie, else Accept-Language. */
export function langOf(request: FastifyRequest, reply?: FastifyReply): Lang {
  const asked = (request.query as { lang?: string } | undefined)?.lang;
  if (asked === 'ja' || asked === 'en') {
    if (reply && cookieOf(request, LANG_COOKIE) !== asked) setDashboardCookie(request, reply, LANG_COOKIE, asked, 365 * 86_400);
    return asked;
  }
  const remembered = cookieOf(request, LANG_COOKIE);
  if (remembered === 'ja' || remembered === 'en') return remembered;
  return /^ja\b/i.test(request.headers['accept-language'] ?? '') ? 'ja' : 'en';
}

/**
 * Form posts must come from this site, and carry the double-submit token: a random value in an
 * HttpOnly, SameSite=Strict cookie that every form repeats in a hidden field. Three lines against
 * cross-site request forgery, sign-in included (login CSRF).
 */
export function postAllowed(request: FastifyRequest) {
  const origin = request.headers.origin;
  if (origin === undefined || origin !== `${request.protocol}://${request.host}`) return false;
  const cookie = Buffer.from(cookieOf(request, CSRF_COOKIE) ?? '');
  const sent = Buffer.from(String((request.body as { csrf?: unknown } | undefined)?.csrf ?? ''));
  return cookie.length === 43 && sent.length === cookie.length && timingSafeEqual(cookie, sent);
}

/** Tokens made for requests that came without one, so one request draws one token. */
const issued = new WeakMap<FastifyRequest, string>();

/** The visitor's CSRF token, set as a cookie on first sight. */
export function csrfToken(request: FastifyRequest, reply: FastifyReply) {
  const existing = cookieOf(request, CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  let fresh = issued.get(request);
  if (!fresh) {
    fresh = randomBytes(32).toString('base64url');
    issued.set(request, fresh);
    setDashboardCookie(request, reply, CSRF_COOKIE, fresh);
  }
  return fresh;
}

export function contextOf(request: FastifyRequest, reply: FastifyReply): PageContext {
  return { lang: langOf(request, reply), csrf: csrfToken(request, reply), url: request.url, viewer: request.principal };
}

export const html = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(body);

/** After a successful post: back to a page (Post/Redirect/Get), so a reload does not post again. */
export const seeOther = (reply: FastifyReply, location: string) => reply.code(303).header('location', location).send();

/** A posted form's fields, as strings (a form sends nothing else). */
export function formOf(request: FastifyRequest): Record<string, string> {
  const body = request.body;
  if (!body || typeof body !== 'object') return {};
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)]));
}

/** A field left empty is "no value": null for the API's nullable fields. */
export const orNull = (value: string | undefined) => (value === undefined || value.trim() === '' ? null : value.trim());

/**
 * Parses a form with the API's own schema, so a page accepts exactly what the API accepts; a refusal
 * is the API's validation error (400, naming each field), which the page shows beside the form.
 */
export function parseForm<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw validationError(result.error.issues.map((i) => ({ path: i.path.join('.') || 'form', message: i.message })));
}

/** The version a form was drawn with (its hidden `version` field): what the change expects, as If-Match. */
export const formVersion = (form: Record<string, string>) => parseForm(z.object({ version: z.coerce.number().int().min(0) }), form).version;

/** An error a page can show to its user: an AppError under 500 (the service's own words). */
export function shownError(err: unknown): AppError | null {
  return err instanceof AppError && err.statusCode < 500 ? err : null;
}

/** The message of a refused change, with the fields it names. */
export function errorText(err: AppError) {
  const fields = err.extra.errors ?? [];
  return fields.length > 1 ? fields.map((e) => `${e.path}: ${e.message}`).join('; ') : err.message;
}

/** A same-site path under /dashboard to return to after a post, or the fallback (never elsewhere). */
export function returnPath(value: string | undefined, fallback: string) {
  return value && /^\/dashboard(\/[A-Za-z0-9/_-]*)?(\?[^\s\\]*)?(#[A-Za-z0-9_-]*)?$/.test(value) && !value.startsWith('//') ? value : fallback;
}

/** The query every page takes: the language and, after a post, which notice to show. */
export const PageQuery = z.object({
  lang: z.enum(['en', 'ja']).optional(),
  done: z.string().max(40).optional(),
  to: z.string().max(254).optional(),
  domain: z.string().max(300).optional(),
});

/** The notices a redirect may ask for (`?done=`): a fixed list, so a link cannot make a page say anything else. */
const notices = [
  'taskDone',
  'taskSnoozed',
  'taskDismissed',
  'statusChanged',
  'detailsSaved',
  'checkQueued',
  'tokenRevoked',
  'ownerSaved',
  'programCreated',
  'contactSaved',
  'contactRemoved',
  'eventLogged',
  'linkMade',
  'linkRevoked',
  'noticeSent',
] as const;

/** `path` with the notice to show after a redirect; `values` fill its placeholders. */
export function withNotice(path: string, notice: (typeof notices)[number], values: Record<string, string> = {}) {
  const u = new URL(path, 'http://x');
  u.searchParams.set('done', notice);
  for (const [k, v] of Object.entries(values)) u.searchParams.set(k, v);
  return `${u.pathname}${u.search}${u.hash}`;
}

/** The notice a page was redirected to show, if any. */
export function flashOf(request: FastifyRequest, lang: Lang): Flash | null {
  const q = request.query as z.infer<typeof PageQuery>;
  const notice = notices.find((n) => n === q.done);
  if (!notice) return null;
  return { kind: 'notice', html: t(lang, notice, { status: statusName(lang, q.to ?? ''), domain: q.domain ?? '' }) };
}
