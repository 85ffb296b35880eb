import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { problem } from '../http/problems.ts';
import { IdParams, IfMatchHeaders } from '../http/common-schemas.ts';
import { conditionalChange, notModified, setEtag } from '../http/etag.ts';
import { PageQuery } from '../http/pagination.ts';
import { actorOf } from '../http/principal.ts';
import { CreateProgram, PatchProgram, Program, ProgramPage } from './program-schemas.ts';
import { createProgram, getProgram, listPrograms, updateProgram } from './program-service.ts';

export const programRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post('/programs', {
    config: { access: 'admin' },
    schema: {
      tags: ['programs'],
      summary: 'Create a program (one decommission)',
      body: CreateProgram,
      response: {
        201: Program,
        400: problem('A field is invalid; `errors` names each one'),
        413: problem('The body is larger than the limit'),
        415: problem('The body is not application/json'),
      },
    },
    handler: async (request, reply) => {
      const program = await createProgram(app.db, request.body, actorOf(request), app.now());
      setEtag(reply, program.version);
      return reply.code(201).header('location', `/v1/programs/${program.id}`).send(program);
    },
  });

  app.get('/programs', {
    config: { access: 'any' },
    schema: {
      tags: ['programs'],
      summary: 'List programs, newest first',
      querystring: PageQuery,
      response: { 200: ProgramPage, 400: problem('Invalid limit or cursor') },
    },
    handler: async (request) => listPrograms(app.db, request.query.limit, request.query.cursor),
  });

  app.get('/programs/:id', {
    config: { access: 'any' },
    schema: {
      tags: ['programs'],
      summary: 'Get a program; its ETag is the version PATCH expects in If-Match',
      params: IdParams,
      response: { 200: Program, ...notModified, 400: problem('The id is not a UUID'), 404: problem('No such program') },
    },
    handler: async (request, reply) => {
      const program = await getProgram(app.db, request.params.id);
      setEtag(reply, program.version);
      return program;
    },
  });

  app.patch('/programs/:id', {
    config: { access: 'admin' },
    schema: {
      tags: ['programs'],
      summary: 'Change a program (If-Match required); changed identifiers mark its domains due for a check',
      params: IdParams,
      headers: IfMatchHeaders,
      body: PatchProgram,
      response: {
        200: Program,
        400: problem('A field is invalid; `errors` names each one'),
        404: problem('No such program'),
        412: problem('If-Match names an older version: someone changed the program since you read it'),
        428: problem('If-Match is missing'),
      },
    },
    handler: async (request, reply) =>
      conditionalChange(request, reply, (expected) => updateProgram(app.db, request.params.id, request.body, expected, actorOf(request), app.now())),
  });
};
