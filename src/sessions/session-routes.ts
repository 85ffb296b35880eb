import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { IdParams, Timestamp } from '../http/common-schemas.ts';
import { Page, PageQuery } from '../http/pagination.ts';
import { problem } from '../http/problems.ts';
import { actorOf } from '../http/principal.ts';
import { listSessions, revokeSession } from './session-service.ts';

const Session = z
  .object({
    id: z.uuid(),
    tokenId: z.uuid(),
    tokenName: z.string(),
    role: z.string(),
    state: z.enum(['active', 'ended', 'expired', 'idle', 'token revoked']),
    createdAt: Timestamp,
    lastSeenAt: Timestamp,
    expiresAt: Timestamp,
    endedAt: Timestamp.nullable(),
    endReason: z.string().nullable(),
    userAgent: z.string().nullable(),
  })
  .meta({ id: 'DashboardSession' });

/** Admins see who is signed in to the dashboard, and can end a session (a lost laptop, a leaver). */
export const sessionRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/sessions', {
    config: { access: 'admin' },
    schema: {
      tags: ['sessions'],
      summary: 'Dashboard sessions, newest first',
      description: 'Which token signed in when, from what browser, and whether the session can still be used. Never the session secret.',
      querystring: PageQuery.extend({ active: z.stringbool().optional().meta({ description: 'Only sessions that can still be used' }) }),
      response: { 200: Page(Session).meta({ id: 'DashboardSessionPage' }) },
    },
    handler: async (request) => listSessions(app.db, request.query, app.now()),
  });

  app.delete('/sessions/:id', {
    config: { access: 'admin' },
    schema: {
      tags: ['sessions'],
      summary: 'End a dashboard session at once',
      params: IdParams,
      response: { 204: z.null().meta({ description: 'Ended (or already over)' }), 404: problem('No such session') },
    },
    handler: async (request, reply) => {
      await revokeSession(app.db, request.params.id, actorOf(request), app.now());
      return reply.code(204).send(null);
    },
  });
};
