import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { problem } from '../http/problems.ts';
import { IdParams, IfMatchHeaders } from '../http/common-schemas.ts';
import { conditionalChange, notModified, setEtag } from '../http/etag.ts';
import { PageQuery } from '../http/pagination.ts';
import { actorOf, principalOf } from '../http/principal.ts';
import { CheckPage, CheckRequested, LatestCheck, SpfTestAnswer, SpfTestQuery } from '../domains/check-schemas.ts';
import {
  addDomain,
  archiveDomain,
  dismissNotFound,
  getDomain,
  listArchivedDomains,
  listDomainChecks,
  requestDomainCheck,
  restoreDomain,
  spfTestDomain,
} from '../domains/domain-service.ts';
import { CreateCustomer, Customer, CustomerPage, CustomerQuery, HistoryPage, PatchCustomer, Reassign, Transition } from './customer-schemas.ts';
import { AddDomain, DismissNotFound, Domain } from '../domains/domain-schemas.ts';
import { createCustomer, customerHistory, getCustomer, listCustomers, reassignCustomer, transitionCustomer, updateCustomer } from './customer-service.ts';

const invalid = problem('A field is invalid; `errors` names each one');
const notFound = problem('No such customer visible to this token (other owners\u2019 customers do not exist for a sales token)');
const conditional = {
  412: problem('If-Match names an older version: someone changed the customer since you read it'),
  428: problem('If-Match is missing'),
};

export const customerRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post('/customers', {
    config: { access: 'manager' },
    schema: {
      tags: ['customers'],
      summary: 'Create a customer, optionally with its domains',
      body: CreateCustomer,
      response: { 201: Customer, 400: invalid, 409: problem('The external ref or a domain is taken in this program') },
    },
    handler: async (request, reply) => {
      const customer = await createCustomer(app.db, request.body, principalOf(request), actorOf(request), app.now());
      setEtag(reply, customer.version);
      return reply.code(201).header('location', `/v1/customers/${customer.id}`).send(customer);
    },
  });

  app.get('/customers', {
    config: { access: 'any' },
    schema: {
      tags: ['customers'],
      summary: 'List customers with their domains (sales: their own; managers: their department)',
      querystring: CustomerQuery,
      response: { 200: CustomerPage, 400: invalid },
    },
    handler: async (request) => listCustomers(app.db, request.query, principalOf(request)),
  });

  app.get('/customers/:id', {
    config: { access: 'any' },
    schema: {
      tags: ['customers'],
      summary: 'Get a customer with its domains and their latest verdicts',
      params: IdParams,
      response: { 200: Customer, ...notModified, 400: invalid, 404: notFound },
    },
    handler: async (request, reply) => {
      const customer = await getCustomer(app.db, request.params.id, principalOf(request));
      setEtag(reply, customer.version);
      return customer;
    },
  });

  app.patch('/customers/:id', {
    config: { access: 'any' },
    schema: {
      tags: ['customers'],
      summary: 'Change name, planned date, successor account or notes (status: /transitions; owner: /reassign)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: PatchCustomer,
      response: { 200: Customer, 400: invalid, 404: notFound, ...conditional },
    },
    handler: async (request, reply) =>
      conditionalChange(request, reply, (expected) =>
        updateCustomer(app.db, request.params.id, request.body, expected, principalOf(request), actorOf(request), app.now()),
      ),
  });

  app.post('/customers/:id/transitions', {
    config: { access: 'any' },
    schema: {
      tags: ['customers'],
      summary: 'Move a customer through the migration workflow (If-Match required)',
      description:
        'An illegal move answers 409 with `allowed`, the states reachable from the current one. `completed` needs every ' +
        'domain verified clean, unless a manager or admin gives `overrideReason`; final states reopen only by an admin with a reason.',
      params: IdParams,
      headers: IfMatchHeaders,
      body: Transition,
      response: {
        200: Customer,
        400: invalid,
        403: problem('The move needs a manager or admin (override) or an admin (reopen)'),
        404: notFound,
        409: problem('Illegal move from the current state; `allowed` lists the legal ones'),
        ...conditional,
      },
    },
    handler: async (request, reply) =>
      conditionalChange(request, reply, (expected) =>
        transitionCustomer(app.db, request.params.id, request.body, expected, principalOf(request), actorOf(request), app.now()),
      ),
  });

  app.post('/customers/:id/reassign', {
    config: { access: 'manager' },
    schema: {
      tags: ['customers'],
      summary: 'Give a customer to another sales owner, with its open tasks (If-Match required)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: Reassign,
      response: { 200: Customer, 400: invalid, 404: notFound, ...conditional },
    },
    handler: async (request, reply) =>
      conditionalChange(request, reply, (expected) =>
        reassignCustomer(app.db, request.params.id, request.body, expected, principalOf(request), actorOf(request), app.now()),
      ),
  });

  app.get('/customers/:id/history', {
    config: { access: 'any' },
    schema: {
      tags: ['customers'],
      summary: 'Status events and audit entries of a customer, its domains and its contacts, newest first',
      params: IdParams,
      querystring: PageQuery,
      response: { 200: HistoryPage, 400: invalid, 404: notFound },
    },
    handler: async (request) => customerHistory(app.db, request.params.id, principalOf(request), request.query.limit, request.query.cursor),
  });

  app.post('/customers/:id/domains', {
    config: { access: 'any' },
    schema: {
      tags: ['domains'],
      summary: 'Add a mail domain to a customer (normalized; one customer per domain in a program)',
      params: IdParams,
      body: AddDomain,
      response: { 201: Domain, 400: invalid, 404: notFound, 409: problem('The domain already belongs to a customer of this program') },
    },
    handler: async (request, reply) => {
      const domain = await addDomain(app.db, request.params.id, request.body.name, principalOf(request), actorOf(request), app.now());
      return reply.code(201).header('location', `/v1/domains/${domain.id}`).send(domain);
    },
  });

  app.get('/domains/:id', {
    config: { access: 'any' },
    schema: {
      tags: ['domains'],
      summary: 'Get a domain with its latest verdict and evidence (the last check\u2019s full report, fix guidance included)',
      params: IdParams,
      response: { 200: Domain.extend({ latestCheck: LatestCheck.nullable() }), 400: invalid, 404: problem('No such domain visible to this token') },
    },
    handler: async (request) => getDomain(app.db, request.params.id, principalOf(request)),
  });

  app.post('/domains/:id/checks', {
    config: { access: 'any' },
    schema: {
      tags: ['domains'],
      summary: 'Check a domain now (at most once a minute per domain)',
      params: IdParams,
      response: {
        202: CheckRequested,
        400: invalid,
        404: problem('No such domain visible to this token'),
        409: problem('The domain is archived (deleted); an admin may restore it'),
        429: problem('Checked less than a minute ago; Retry-After says when to ask again'),
      },
    },
    handler: async (request, reply) =>
      reply.code(202).send(await requestDomainCheck(app.db, request.params.id, principalOf(request), actorOf(request), app.now())),
  });

  app.get('/domains/:id/checks', {
    config: { access: 'any' },
    schema: {
      tags: ['domains'],
      summary: 'The checks of a domain, newest first (kept: every verdict change and the last 30)',
      params: IdParams,
      querystring: PageQuery,
      response: { 200: CheckPage, 400: invalid, 404: problem('No such domain visible to this token') },
    },
    handler: async (request) => listDomainChecks(app.db, request.params.id, principalOf(request), request.query.limit, request.query.cursor),
  });

  app.get('/domains/:id/spf-test', {
    config: { access: 'any' },
    schema: {
      tags: ['domains'],
      summary: 'Will mail from this server pass SPF? check_host() today and once the legacy SPF record is deleted, with every term evaluated',
      description:
        'Asks DNS now (no cache). The deleted world drops every name at or under the program\u2019s legacy SPF includes and every ' +
        'name whose CNAME chain ends there. `sender` defaults to postmaster@<domain>, `helo` to the domain.',
      params: IdParams,
      querystring: SpfTestQuery,
      response: { 200: SpfTestAnswer, 400: invalid, 404: problem('No such domain visible to this token') },
    },
    handler: async (request) => spfTestDomain(app.db, app.dns, request.params.id, principalOf(request), request.query, app.now()),
  });

  app.post('/domains/:id/not-found-dismissal', {
    config: { access: 'manager' },
    schema: {
      tags: ['domains'],
      summary: 'Confirm that a domain missing from DNS (verdict domain_not_found) is expected to be gone, saying why',
      description:
        'An undismissed domain_not_found keeps both readiness gates shut. The dismissal is cleared when a later check finds ' +
        'the domain again. Dismissing again replaces the reason. Deleting (archiving) the domain is the other way out.',
      params: IdParams,
      body: DismissNotFound,
      response: {
        200: Domain,
        400: invalid,
        404: problem('No such domain visible to this token'),
        409: problem('The domain\u2019s latest verdict is not domain_not_found, or the domain is archived'),
      },
    },
    handler: async (request) => dismissNotFound(app.db, request.params.id, request.body.reason, principalOf(request), actorOf(request), app.now()),
  });

  app.delete('/domains/:id', {
    config: { access: 'manager' },
    schema: {
      tags: ['domains'],
      summary: 'Delete a domain from its customer: it is archived, never removed',
      description:
        'The domain leaves the customer, the lists, readiness and the sweeps, and its name is free for another customer; ' +
        'its checks, tasks and audit stay, readable at /v1/domains/{id}. Its open tasks close. An admin may restore it.',
      params: IdParams,
      response: {
        204: z.undefined().describe('Archived'),
        400: invalid,
        404: problem('No such domain visible to this token'),
        409: problem('The domain is already archived'),
      },
    },
    handler: async (request, reply) => {
      await archiveDomain(app.db, request.params.id, principalOf(request), actorOf(request), app.now());
      return reply.code(204).send();
    },
  });

  app.post('/domains/:id/restore', {
    config: { access: 'admin' },
    schema: {
      tags: ['domains'],
      summary: 'Restore an archived (deleted) domain to its customer; it is checked again at once',
      params: IdParams,
      response: {
        200: Domain,
        400: invalid,
        404: problem('No such domain visible to this token'),
        409: problem('The domain is not archived, or its name now belongs to a live domain of the program'),
      },
    },
    handler: async (request) => restoreDomain(app.db, request.params.id, principalOf(request), actorOf(request), app.now()),
  });

  app.get('/customers/:id/archived-domains', {
    config: { access: 'any' },
    schema: {
      tags: ['domains'],
      summary: 'The deleted (archived) domains of a customer, most recently deleted first',
      params: IdParams,
      response: { 200: z.object({ items: z.array(Domain) }), 400: invalid, 404: notFound },
    },
    handler: async (request) => ({ items: await listArchivedDomains(app.db, request.params.id, principalOf(request)) }),
  });
};
