import type { FastifyRequest } from 'fastify';

/** The dashboard's session cookie: the API token, URL-encoded. */
export const SESSION_COOKIE = 'mdt_session';

/** A cookie's raw value from the request, if sent. */
export const cookieOf = (request: FastifyRequest, name: string) =>
  (request.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim().split('='))
    .find(([k]) => k === name)?.[1];
