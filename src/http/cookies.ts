import type { FastifyReply, FastifyRequest } from 'fastify';

/** The dashboard's session cookie: a session's random secret (never an API token). */
export const SESSION_COOKIE = 'mdt_session';

/**
 * A cookie's value from the request (parsed by @fastify/cookie), if sent. A value that does not decode
 * (`%`, `%zz`) arrives as it was sent and is simply not a session: the client's mistake, never a 500.
 */
export const cookieOf = (request: FastifyRequest, name: string): string | undefined => request.cookies[name];

/**
 * Sets one of the dashboard's cookies: HttpOnly, SameSite=Strict, for /dashboard only, and Secure when
 * the request came over HTTPS (as the trusted proxy hops tell: TRUST_PROXY_HOPS). `maxAgeS` 0 deletes it.
 */
export function setDashboardCookie(request: FastifyRequest, reply: FastifyReply, name: string, value: string, maxAgeS?: number) {
  reply.setCookie(name, value, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/dashboard',
    secure: request.protocol === 'https',
    ...(maxAgeS === undefined ? {} : { maxAge: maxAgeS }),
  });
}
