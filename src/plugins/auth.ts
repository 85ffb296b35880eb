import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from 'pino';
import type { Role } from '../../db/schema/enums.ts';
import { errors } from '../errors.ts';
import { bearerToken } from '../http/credentials.ts';
import { principalOf } from '../http/principal.ts';
import { problem } from '../http/problems.ts';
import { authenticateToken } from '../tokens/token-service.ts';

/** Who may call a route. Every route under /v1 must say; finer visibility is the services' job. */
export type Access = 'admin' | 'manager' | 'any';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

const allowedRoles: Record<Access, Role[]> = {
  admin: ['admin'],
  manager: ['admin', 'manager'],
  any: ['admin', 'manager', 'sales'],
};

/** Whether a role may use what needs `access` (the API's routes and the dashboard's pages alike). */
export const roleAllows = (access: Access, role: Role) => allowedRoles[access].includes(role);

export const securityResponses = {
  401: problem('Missing, malformed, unknown, expired or revoked bearer token'),
  403: problem('The token is valid but its role may not do this'),
  429: problem('Over RATE_LIMIT_PER_TOKEN or RATE_LIMIT_PER_IP requests a minute; Retry-After says when to retry'),
};

/** What any route taking input may answer, unless it documents its own. */
function inputResponses(schema: { params?: unknown; querystring?: unknown; body?: unknown }, method: string | string[]) {
  const takesBody = schema.body || [method].flat().some((m) => m !== 'GET' && m !== 'HEAD');
  return {
    ...(schema.params || schema.querystring || schema.body ? { 400: problem('Invalid input; `errors` names each field') } : {}),
    ...(takesBody ? { 415: problem('A body of a type this route does not take') } : {}),
  };
}

export interface ProtectedRoute {
  method: string;
  url: string;
  access: Access;
}

declare module 'fastify' {
  interface FastifyInstance {
    protectedRoutes: ProtectedRoute[];
  }
}

async function authenticate(this: FastifyInstance, request: FastifyRequest) {
  const header = request.headers.authorization;
  if (!header) throw errors.unauthenticated('Send an Authorization: Bearer <token> header');
  const token = bearerToken(header);
  if (!token) throw errors.unauthenticated('The Authorization header must be "Bearer <token>"');
  const result = await authenticateToken(this.db, token, this.now());
  if (!result.ok) throw errors.unauthenticated(result.reason);
  const { row } = result;
  request.principal = {
    tokenId: row.id,
    name: row.name,
    role: row.role,
    salesOwnerId: row.salesOwnerId,
    department: row.department,
  };
  // On the request's own logger, which its reply shares: a child here would leave the completion
  // line without them (and cost a logger per request). The service's loggers are pino's.
  (request.log as Logger).setBindings({ tokenId: row.id, role: row.role });
}

async function authorize(request: FastifyRequest) {
  const access = request.routeOptions.config.access!;
  const role = principalOf(request).role;
  if (!roleAllows(access, role)) {
    throw errors.forbidden(`This needs a token with role ${allowedRoles[access].join(' or ')}; yours is ${role}`);
  }
}

/**
 * Protects every route registered in the scope it is applied to: bearer authentication, then the
 * route's `config.access`. A route without `config.access` fails at start-up, so nothing is open by
 * omission. It also documents the bearer requirement and the 401/403 answers in the OpenAPI schema.
 */
export function protectScope(scope: FastifyInstance) {
  scope.addHook('onRoute', (route) => {
    const access = (route.config as { access?: Access } | undefined)?.access;
    if (!access || !(access in allowedRoles)) {
      throw new Error(`Route ${route.method} ${route.url} must declare config.access (admin | manager | any)`);
    }
    for (const method of [route.method].flat()) if (method !== 'HEAD') scope.protectedRoutes.push({ method, url: route.url, access });
    if (route.schema) {
      route.schema.security = [{ bearerAuth: [] }];
      route.schema.response = { ...securityResponses, ...inputResponses(route.schema, route.method), ...(route.schema.response as object) };
    }
  });
  scope.addHook('onRequest', authenticate);
  scope.addHook('preHandler', authorize);
}

export const authPlugin = fp(
  async (app) => {
    app.decorateRequest('principal', null);
    // Every protected route with its access level, for the role × ownership test over all of them.
    app.decorate('protectedRoutes', [] as ProtectedRoute[]);
  },
  { name: 'auth' },
);
