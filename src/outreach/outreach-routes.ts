import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { IdParams } from '../http/common-schemas.ts';
import { actorOf, principalOf } from '../http/principal.ts';
import { problem } from '../http/problems.ts';
import { CreatedSelfCheckLink, CreateSelfCheckLink, LinkParams, SelfCheckLink } from './outreach-schemas.ts';
import { createSelfCheckLink, listSelfCheckLinks, revokeSelfCheckLink } from './self-check-service.ts';

const invalid = problem('A field is invalid; `errors` names each one');
const customerNotFound = problem('No such customer visible to this token');

/** Where people reach the service: PUBLIC_URL, else the address this request came to. */
export const publicBase = (request: FastifyRequest, configured: string | undefined) => configured ?? `${request.protocol}://${request.host}`;

/** Reaching customers: self-check links (and, below, notices). Whoever may see the customer may use them. */
export const outreachRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post('/customers/:id/self-check-links', {
    config: { access: 'any' },
    schema: {
      tags: ['outreach'],
      summary: 'A link for the customer’s DNS administrator to /check/{token}: their domains, what to change, and a re-check, without an account',
      description:
        'The URL is in this answer only: the service keeps a hash of its token. The page shows this customer’s domains and nothing else, until the link expires or is revoked.',
      params: IdParams,
      body: CreateSelfCheckLink,
      response: { 201: CreatedSelfCheckLink, 400: invalid, 404: customerNotFound },
    },
    handler: async (request, reply) => {
      const { link, token } = await createSelfCheckLink(app.db, request.params.id, request.body, principalOf(request), actorOf(request), app.now());
      const location = `/v1/customers/${link.customerId}/self-check-links/${link.id}`;
      return reply
        .code(201)
        .header('location', location)
        .send({ ...link, url: `${publicBase(request, app.config.PUBLIC_URL)}/check/${token}` });
    },
  });

  app.get('/customers/:id/self-check-links', {
    config: { access: 'any' },
    schema: {
      tags: ['outreach'],
      summary: 'A customer’s self-check links, newest first (without their URLs)',
      params: IdParams,
      response: { 200: z.object({ items: z.array(SelfCheckLink) }), 400: invalid, 404: customerNotFound },
    },
    handler: async (request) => ({ items: await listSelfCheckLinks(app.db, request.params.id, principalOf(request), app.now()) }),
  });

  app.delete('/customers/:id/self-check-links/:linkId', {
    config: { access: 'any' },
    schema: {
      tags: ['outreach'],
      summary: 'Revoke a self-check link: its page answers 404 from now on',
      params: LinkParams,
      response: { 200: SelfCheckLink, 400: invalid, 404: problem('No such customer or link visible to this token') },
    },
    handler: async (request) => revokeSelfCheckLink(app.db, request.params.id, request.params.linkId, principalOf(request), actorOf(request), app.now()),
  });
};
