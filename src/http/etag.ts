import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { errors, validationError } from '../errors.ts';

/** Versioned resources carry their version as a strong ETag: `"3"`. */
export const etagOf = (version: number) => `"${version}"`;

export function setEtag(reply: FastifyReply, version: number) {
  reply.header('etag', etagOf(version));
}

/**
 * The version a conditional change expects, from `If-Match`. Missing → 428; `*` → null (any current
 * version, RFC 9110); a weak ETag → 412 (If-Match compares strong ETags only, so `W/"3"` matches
 * nothing); something that is not one of our ETags → 400.
 */
export function requireIfMatch(request: FastifyRequest): number | null {
  const header = request.headers['if-match'];
  if (header === undefined || header === '') throw errors.preconditionRequired();
  if (header.trim() === '*') return null;
  const m = /^\s*(W\/)?"(\d{1,9})"\s*$/.exec(header);
  if (!m) {
    throw validationError([{ path: 'headers.if-match', message: 'expected an ETag as returned by GET, e.g. "3"' }]);
  }
  if (m[1]) throw errors.weakIfMatch(`"${m[2]}"`);
  return Number(m[2]);
}

/** Whether `If-None-Match` names the ETag a GET is about to send (weak comparison, RFC 9110 §13.1.2). */
function noneMatchHits(header: string, etag: string) {
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => opaque(tag) === opaque(etag));
}

/**
 * Conditional GETs: a GET or HEAD whose answer carries an ETag the client already has (If-None-Match)
 * is a 304 without a body, so clients can poll a customer or a domain cheaply.
 */
export function answerConditionalGets(app: FastifyInstance) {
  app.addHook('onSend', async (request, reply, payload) => {
    const header = request.headers['if-none-match'];
    const etag = reply.getHeader('etag');
    if (!header || typeof etag !== 'string' || reply.statusCode !== 200) return payload;
    if (request.method !== 'GET' && request.method !== 'HEAD') return payload;
    if (!noneMatchHits(header, etag)) return payload;
    reply.code(304);
    reply.removeHeader('content-length');
    reply.removeHeader('content-type');
    return '';
  });
}

/**
 * A conditional change of a versioned resource: the version If-Match names goes to `change`, and the
 * result's new version goes back as the ETag.
 */
export async function conditionalChange<T extends { version: number }>(
  request: FastifyRequest,
  reply: FastifyReply,
  change: (expectedVersion: number | null) => Promise<T>,
): Promise<T> {
  const result = await change(requireIfMatch(request));
  setEtag(reply, result.version);
  return result;
}

/** The 304 a GET with an ETag may answer (documented on each such route). */
export const notModified = { 304: z.null().describe('Not modified: If-None-Match names the current ETag (no body)') };
