import type { FastifyRequest } from 'fastify';

/** The dashboard's session cookie: the API token, URL-encoded. */
export const SESSION_COOKIE = 'mdt_session';

/**
 * A cookie's value from the request, URL-decoded, if sent. A value that does not decode (`%`, `%zz`)
 * is treated as absent: a malformed cookie is the client's mistake, never a 500.
 */
export function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}
