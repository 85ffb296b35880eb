import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { IdParams, IfMatchHeaders } from '../http/common-schemas.ts';
import { conditionalChange, notModified, setEtag } from '../http/etag.ts';
import { actorOf, principalOf } from '../http/principal.ts';
import { problem } from '../http/problems.ts';
import { Contact, ContactEvent, ContactEventInput, ContactEventPage, CreateContact, PatchContact } from './contact-schemas.ts';
import { createContact, deleteContact, getContact, listContactEvents, listContacts, logContactEvent, updateContact } from './contact-service.ts';
import { PageQuery } from '../http/pagination.ts';

const invalid = problem('A field is invalid; `errors` names each one');
const customerNotFound = problem('No such customer visible to this token');
const contactNotFound = problem('No such contact visible to this token');

/** A customer's contacts: whoever may see the customer keeps them up to date. */
export const contactRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/customers/:id/contacts', {
    config: { access: 'any' },
    schema: {
      tags: ['contacts'],
      summary: 'The people at a customer the team talks to (personal data: only for those who may see the customer)',
      params: IdParams,
      response: { 200: z.object({ items: z.array(Contact) }), 400: invalid, 404: customerNotFound },
    },
    handler: async (request) => ({ items: await listContacts(app.db, request.params.id, principalOf(request)) }),
  });

  app.post('/customers/:id/contacts', {
    config: { access: 'any' },
    schema: {
      tags: ['contacts'],
      summary: 'Add a contact: a name, an email or a phone, technical or business, the language to write to them in',
      params: IdParams,
      body: CreateContact,
      response: { 201: Contact, 400: invalid, 404: customerNotFound },
    },
    handler: async (request, reply) => {
      const contact = await createContact(app.db, request.params.id, request.body, principalOf(request), actorOf(request), app.now());
      setEtag(reply, contact.version);
      return reply.code(201).header('location', `/v1/contacts/${contact.id}`).send(contact);
    },
  });

  app.get('/contacts/:id', {
    config: { access: 'any' },
    schema: {
      tags: ['contacts'],
      summary: 'One contact; its ETag is the version PATCH expects in If-Match',
      params: IdParams,
      response: { 200: Contact, ...notModified, 400: invalid, 404: contactNotFound },
    },
    handler: async (request, reply) => {
      const contact = await getContact(app.db, request.params.id, principalOf(request));
      setEtag(reply, contact.version);
      return contact;
    },
  });

  app.patch('/contacts/:id', {
    config: { access: 'any' },
    schema: {
      tags: ['contacts'],
      summary: 'Change a contact (If-Match required)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: PatchContact,
      response: {
        200: Contact,
        400: invalid,
        404: contactNotFound,
        412: problem('If-Match names an older version'),
        428: problem('If-Match is missing'),
      },
    },
    handler: async (request, reply) =>
      conditionalChange(request, reply, (expected) =>
        updateContact(app.db, request.params.id, request.body, expected, principalOf(request), actorOf(request), app.now()),
      ),
  });

  app.delete('/contacts/:id', {
    config: { access: 'any' },
    schema: {
      tags: ['contacts'],
      summary: 'Remove a contact (the audit log keeps what it was)',
      params: IdParams,
      response: { 204: z.undefined().describe('Removed'), 400: invalid, 404: contactNotFound },
    },
    handler: async (request, reply) => {
      await deleteContact(app.db, request.params.id, principalOf(request), actorOf(request), app.now());
      return reply.code(204).send();
    },
  });

  app.get('/customers/:id/contacts/events', {
    config: { access: 'any' },
    schema: {
      tags: ['contacts'],
      summary: 'The contact log of a customer: calls, emails, meetings and notes, newest first',
      params: IdParams,
      querystring: PageQuery,
      response: { 200: ContactEventPage, 400: invalid, 404: customerNotFound },
    },
    handler: async (request) => listContactEvents(app.db, request.params.id, principalOf(request), request.query.limit, request.query.cursor),
  });

  app.post('/customers/:id/contacts/events', {
    config: { access: 'any' },
    schema: {
      tags: ['contacts'],
      summary: 'Log a call, email, meeting or note; contact moves a not_contacted customer to contacted',
      params: IdParams,
      body: ContactEventInput,
      response: { 201: ContactEvent, 400: invalid, 404: customerNotFound },
    },
    handler: async (request, reply) => {
      const event = await logContactEvent(app.db, request.params.id, request.body, principalOf(request), actorOf(request), app.now());
      return reply.code(201).header('location', `/v1/customers/${request.params.id}/contacts/events`).send(event);
    },
  });
};
