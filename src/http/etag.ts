import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, validationError } from '../errors.ts';

/** Versioned resources carry their version as a strong ETag: `"3"`. */
export const etagOf = (version: number) => `"${version}"`;

export function setEtag(reply: FastifyReply, version: number) {
  reply.header('etag', etagOf(version));
}

/**
 * The version a conditional change expects, from `If-Match`. Missing → 428; `*` → null (any current
 * version, RFC 9110); something that is not one of our ETags → 400.
 */
export function requireIfMatch(request: FastifyRequest): number | null {
  const header = request.headers['if-match'];
  if (header === undefined || header === '') throw errors.preconditionRequired();
  if (header.trim() === '*') return null;
  const m = /^\s*(?:W\/)?"(\d{1,9})"\s*$/.exec(header);
  if (!m) {
    throw validationError([{ path: 'headers.if-match', message: 'expected an ETag as returned by GET, e.g. "3"' }]);
  }
  return Number(m[1]);
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
