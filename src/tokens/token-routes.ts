import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { roles } from '../../db/schema/enums.ts';
import { AppError } from '../errors.ts';
import { IdParams, Timestamp } from '../http/common-schemas.ts';
import { problem } from '../http/problems.ts';
import { actorOf } from '../http/principal.ts';
import { listTokens } from './token-repository.ts';
import { createToken, describeToken, getToken, revokeToken } from './token-service.ts';

const Token = z
  .object({
    id: z.uuid(),
    name: z.string(),
    role: z.enum(roles),
    salesOwnerId: z.uuid().nullable(),
    department: z.string().nullable(),
    tokenPrefix: z.string().meta({ description: 'The first characters, to tell tokens apart; never the token' }),
    createdBy: z.string(),
    createdAt: Timestamp,
    expiresAt: Timestamp.nullable(),
    revokedAt: Timestamp.nullable(),
    lastUsedAt: Timestamp.nullable(),
  })
  .meta({ id: 'ApiToken' });

export const CreateToken = z
  .strictObject({
    name: z.string().trim().min(1).max(200).meta({ description: 'Who or what the token is for' }),
    role: z.enum(roles),
    salesOwnerId: z.uuid().optional().meta({
      description:
        'Required for a sales token: whose customers it sees. Optional for a manager token: the manager\u2019s own sales-owner record, in the token\u2019s department (who assignee=me is; their owners\u2019 escalations are assigned to it). Not for an admin token.',
    }),
    department: z.string().trim().min(1).max(200).optional().meta({ description: 'Required for (and only for) a manager token' }),
    expiresInDays: z.number().int().min(1).max(3650).optional().meta({ description: 'Unset: the token does not expire' }),
  })
  .meta({ examples: [{ name: '鈴木 一郎', role: 'sales', salesOwnerId: '5b0a5c0e-1f4e-4d55-9a52-0c2c6c1b9f10', expiresInDays: 180 }] });

const CreatedToken = Token.extend({
  token: z.string().meta({ description: 'The token itself: shown this once and never again (only its hash is stored)' }),
}).meta({ id: 'CreatedApiToken' });

const view = (row: Parameters<typeof describeToken>[0]) => {
  const d = describeToken(row);
  return {
    ...d,
    createdAt: d.createdAt.toISOString(),
    expiresAt: d.expiresAt?.toISOString() ?? null,
    revokedAt: d.revokedAt?.toISOString() ?? null,
    lastUsedAt: d.lastUsedAt?.toISOString() ?? null,
  };
};

/** The service's field errors name the input (`salesOwnerId`); the API names it where it was sent. */
function inBody(err: unknown): never {
  if (err instanceof AppError && err.extra.errors) {
    err.extra.errors = err.extra.errors.map((e) => ({ ...e, path: e.path.startsWith('body.') ? e.path : `body.${e.path}` }));
  }
  throw err;
}

/** Admins onboard and offboard people without stopping the server (the CLI does the same). */
export const tokenRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post('/tokens', {
    config: { access: 'admin' },
    schema: {
      tags: ['tokens'],
      summary: 'Create an API token; the answer is the only time the token is shown',
      body: CreateToken,
      response: {
        201: CreatedToken,
        400: problem('Invalid body, or a role without its binding (a sales owner for sales, a department for manager)'),
        404: problem('No such sales owner'),
      },
    },
    handler: async (request, reply) => {
      const { name, role, salesOwnerId, department, expiresInDays } = request.body;
      const now = app.now();
      const expiresAt = expiresInDays ? new Date(now.getTime() + expiresInDays * 86_400_000) : undefined;
      const { token, row } = await createToken(app.db, { name, role, salesOwnerId, department, expiresAt }, actorOf(request), now).catch(inBody);
      return reply
        .code(201)
        .header('location', `/v1/tokens/${row.id}`)
        .header('cache-control', 'no-store')
        .send({ ...view(row), token });
    },
  });

  app.get('/tokens', {
    config: { access: 'admin' },
    schema: {
      tags: ['tokens'],
      summary: 'Every token, newest first (never a token itself)',
      response: { 200: z.object({ items: z.array(Token) }) },
    },
    handler: async () => ({ items: (await listTokens(app.db)).map(view) }),
  });

  app.get('/tokens/:id', {
    config: { access: 'admin' },
    schema: {
      tags: ['tokens'],
      summary: 'One token: its name, role, owner, expiry, last use and whether it is revoked (never the token itself)',
      params: IdParams,
      response: { 200: Token, 404: problem('No such token') },
    },
    handler: async (request) => view(await getToken(app.db, request.params.id)),
  });

  app.delete('/tokens/:id', {
    config: { access: 'admin' },
    schema: {
      tags: ['tokens'],
      summary: 'Revoke a token: it stops working at once, and so do the dashboard sessions started with it',
      params: IdParams,
      response: { 200: Token, 404: problem('No such token') },
    },
    handler: async (request) => view(await revokeToken(app.db, request.params.id, actorOf(request), app.now())),
  });
};
