import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../http/principal.ts';
import { gateBlockers } from '../reports/gate-service.ts';
import { readiness } from '../reports/readiness-service.ts';
import { blastRadius, requireProgram } from '../reports/report-service.ts';
import { contextOf, html, PageQuery } from './dashboard-http.ts';
import { programPage } from './program-views.ts';

/** A program's dashboard, as the API's readiness report sees it for the viewer. */
export const programPages: FastifyPluginAsyncZod = async (app) => {
  app.get('/programs/:id', {
    config: { page: 'any' },
    schema: { hide: true, params: z.object({ id: z.uuid() }), querystring: PageQuery.extend({ blastCursor: z.string().max(1024).optional() }) },
    handler: async (request, reply) => {
      const viewer = principalOf(request);
      const program = await requireProgram(app.db, request.params.id);
      const cursor = request.query.blastCursor;
      const [report, gates, blast] = await Promise.all([
        readiness(app.db, program.id, viewer, app.now()),
        gateBlockers(app.db, program.id, viewer),
        blastRadius(app.db, program.id, viewer, 50, cursor),
      ]);
      return html(reply, programPage(contextOf(request, reply), program, report, gates, blast, cursor));
    },
  });
};
