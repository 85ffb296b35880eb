import type { FastifyRequest } from 'fastify';
import type { Principal } from '../access/access.ts';
import type { Actor } from '../audit/audit-repository.ts';

/*
 * Who made a request, for the routes: set by the auth plugin's hook (src/plugins/auth.ts) on every
 * protected route. Kept apart from the plugin, which depends on the tokens feature, so that feature's
 * own routes can use these without a cycle.
 */

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The authenticated caller; only valid inside routes the auth hook protects. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('principalOf() called on an unauthenticated route');
  return request.principal;
}

/** The audit actor for a request. */
export function actorOf(request: FastifyRequest): Actor {
  const p = principalOf(request);
  return { name: `token:${p.name}`, tokenId: p.tokenId, requestId: String(request.id) };
}
