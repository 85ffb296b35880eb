import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Problem } from '../errors.ts';
import { IdParams, IfMatchHeaders } from '../http/common-schemas.ts';
import { requireIfMatch, setEtag } from '../http/etag.ts';
import { PageQuery } from '../http/pagination.ts';
import { actorOf } from '../plugins/auth.ts';
import { CreateProgram, PatchProgram, Program, ProgramPage } from './program-schemas.ts';
import { createProgram, getProgram, listPrograms, updateProgram } from './program-service.ts';

export const programRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post('/programs', {
    config: { access: 'admin' },
    schema: {
      tags: ['programs'],
      summary: 'Create a program (one decommission)',
      body: CreateProgram,
      response: { 201: Program, 400: Problem, 413: Problem, 415: Problem },
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
      response: { 200: ProgramPage, 400: Problem },
    },
    handler: async (request) => listPrograms(app.db, request.query.limit, request.query.cursor),
  });

  app.get('/programs/:id', {
    config: { access: 'any' },
    schema: {
      tags: ['programs'],
      summary: 'Get a program; its ETag is the version PATCH expects in If-Match',
      params: IdParams,
      response: { 200: Program, 400: Problem, 404: Problem },
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
      response: { 200: Program, 400: Problem, 404: Problem, 412: Problem, 428: Problem },
    },
    handler: async (request, reply) => {
      const expected = requireIfMatch(request);
      const program = await updateProgram(app.db, request.params.id, request.body, expected, actorOf(request), app.now());
      setEtag(reply, program.version);
      return program;
    },
  });
};
