import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { problem } from '../http/problems.ts';
import { IdParams, IfMatchHeaders } from '../http/common-schemas.ts';
import { conditionalChange, notModified, setEtag } from '../http/etag.ts';
import { actorOf, principalOf } from '../http/principal.ts';
import { CreateSalesOwner, Handover, HandoverResult, PatchSalesOwner, SalesOwner, SalesOwnerPage, SalesOwnerQuery } from './sales-owner-schemas.ts';
import { createSalesOwner, getSalesOwner, handOver, listSalesOwners, updateSalesOwner } from './sales-owner-service.ts';

const invalid = problem('A field is invalid; `errors` names each one');
const notFound = problem('No such sales owner visible to this token');

export const salesOwnerRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post('/sales-owners', {
    config: { access: 'manager' },
    schema: {
      tags: ['sales owners'],
      summary: 'Create a sales owner (a manager only in their own department)',
      body: CreateSalesOwner,
      response: { 201: SalesOwner, 400: invalid, 404: problem('managerId names no sales owner this token may see'), 409: problem('The email is taken') },
    },
    handler: async (request, reply) => {
      const owner = await createSalesOwner(app.db, request.body, principalOf(request), actorOf(request), app.now());
      setEtag(reply, owner.version);
      return reply.code(201).header('location', `/v1/sales-owners/${owner.id}`).send(owner);
    },
  });

  app.get('/sales-owners', {
    config: { access: 'any' },
    schema: {
      tags: ['sales owners'],
      summary: 'List sales owners by name (managers see their department, sales themselves)',
      querystring: SalesOwnerQuery,
      response: { 200: SalesOwnerPage, 400: invalid },
    },
    handler: async (request) => listSalesOwners(app.db, request.query, principalOf(request)),
  });

  app.get('/sales-owners/:id', {
    config: { access: 'any' },
    schema: {
      tags: ['sales owners'],
      summary: 'Get a sales owner',
      params: IdParams,
      response: { 200: SalesOwner, ...notModified, 400: invalid, 404: notFound },
    },
    handler: async (request, reply) => {
      const owner = await getSalesOwner(app.db, request.params.id, principalOf(request));
      setEtag(reply, owner.version);
      return owner;
    },
  });

  app.patch('/sales-owners/:id', {
    config: { access: 'manager' },
    schema: {
      tags: ['sales owners'],
      summary: 'Change a sales owner (If-Match required); managers form no cycles',
      params: IdParams,
      headers: IfMatchHeaders,
      body: PatchSalesOwner,
      response: {
        200: SalesOwner,
        400: invalid,
        404: notFound,
        409: problem('The email is taken'),
        412: problem('Changed since you read it'),
        428: problem('If-Match is missing'),
      },
    },
    handler: async (request, reply) =>
      conditionalChange(request, reply, (expected) =>
        updateSalesOwner(app.db, request.params.id, request.body, expected, principalOf(request), actorOf(request), app.now()),
      ),
  });

  app.post('/sales-owners/:id/handover', {
    config: { access: 'manager' },
    schema: {
      tags: ['sales owners'],
      summary: "Hand a leaving owner's whole book (customers and open tasks) to another owner, in one transaction",
      params: IdParams,
      body: Handover,
      response: { 200: HandoverResult, 400: invalid, 404: notFound },
    },
    handler: async (request) => handOver(app.db, request.params.id, request.body, principalOf(request), actorOf(request), app.now()),
  });
};
