import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { CustomerStatus } from '../../db/schema/enums.ts';
import { finalStatuses, nextStatuses, progress } from '../customer-status/customer-workflow.ts';
import { ContactEventInput, CreateContact } from '../contacts/contact-schemas.ts';
import { createContact, deleteContact, listContactEvents, listContacts, logContactEvent } from '../contacts/contact-service.ts';
import { CustomerQuery, PatchCustomer, Transition } from '../customers/customer-schemas.ts';
import { customerHistory, getCustomer, listCustomers, transitionCustomer, updateCustomer } from '../customers/customer-service.ts';
import { getDomain, requestDomainCheck } from '../domains/domain-service.ts';
import { isAppError, type AppError } from '../errors.ts';
import { IdParams } from '../http/common-schemas.ts';
import { sendCsv } from '../http/csv.ts';
import { actorOf, principalOf } from '../http/principal.ts';
import { getProgram, listPrograms } from '../programs/program-service.ts';
import { sendNotice } from '../outreach/notice-service.ts';
import { noticeOptionsOf, sendNoticeAs } from '../outreach/outreach-routes.ts';
import { publicBase } from '../http/public-base.ts';
import { LinkParams, NoticeQuery } from '../outreach/outreach-schemas.ts';
import { createSelfCheckLink, listSelfCheckLinks, liveLinkOf, revokeSelfCheckLink, SELF_CHECK_DEFAULT_DAYS } from '../outreach/self-check-service.ts';
import { customerCsvColumns, customerCsvRows } from '../reports/customer-export.ts';
import { allPages } from '../reports/report-service.ts';
import { listSalesOwners } from '../sales-owners/sales-owner-service.ts';
import { listTasks } from '../tasks/task-service.ts';
import { customerListPage, customerPage, historyText } from './customer-views.ts';
import {
  contextOf,
  errorText,
  flashOf,
  formOf,
  formVersion,
  html,
  orNull,
  PageQuery,
  parseForm,
  returnPath,
  seeOther,
  shownError,
  withNotice,
} from './dashboard-http.ts';
import { escapeHtml, t, type Flash } from './dashboard-layout.ts';
import { formatTime, say, type Lang } from './dashboard-messages.ts';

/** The list's query: the API's own filters (GET /v1/customers), the page's language and notice. */
const ListQuery = CustomerQuery.extend(PageQuery.shape);
const CsvQuery = CustomerQuery.omit({ limit: true, cursor: true }).extend(PageQuery.shape);

/** Refusals the catalogue words in Japanese; others show the service's own words. */
const japanese = {
  notClean: 'errNotClean',
  overrideForbidden: 'errOverrideForbidden',
  illegalTransition: 'errIllegalTransition',
  reopenForbidden: 'errIllegalTransition',
  reasonRequired: 'errReasonRequired',
  taskNotOpen: 'errTaskNotOpen',
} as const;

/** A refusal in the page's language where the catalogue has the words, else the service's own. */
function refusalText(lang: Lang, err: AppError) {
  if (lang === 'en') return errorText(err);
  const key = (Object.keys(japanese) as (keyof typeof japanese)[]).find((k) => isAppError(err, k));
  if (key) return say(lang, japanese[key]);
  if (err.extra.errors) return say(lang, 'invalidInput', { problems: err.extra.errors.map((e) => e.path).join(', ') });
  return errorText(err);
}

/** Customers: the list, its CSV, one customer with everything a rep acts on, and the changes. */
export const customerPages: FastifyPluginAsyncZod = async (app) => {
  /** Every sales owner the viewer may see, by id (for names in the list and its owner filter). */
  async function visibleOwners(request: FastifyRequest) {
    const viewer = principalOf(request);
    const owners = new Map<string, { id: string; name: string; department: string }>();
    for await (const o of allPages((cursor) => listSalesOwners(app.db, { limit: 200, cursor }, viewer))) owners.set(o.id, o);
    return owners;
  }

  app.get('/customers', {
    config: { page: 'any' },
    schema: { hide: true },
    handler: async (request, reply) => {
      const ctx = contextOf(request, reply);
      const parsed = ListQuery.safeParse(request.query);
      const [owners, programs] = await Promise.all([visibleOwners(request), listPrograms(app.db, 200)]);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
        const flash: Flash = { kind: 'error', html: t(ctx.lang, 'invalidInput', { problems }) };
        return html(reply, customerListPage(ctx, {}, { items: [], nextCursor: null }, owners, programs.items, flash), 400);
      }
      const result = await listCustomers(app.db, parsed.data, principalOf(request));
      return html(reply, customerListPage(ctx, parsed.data, result, owners, programs.items, flashOf(request, ctx.lang)));
    },
  });

  app.get('/customers.csv', {
    config: { page: 'any' },
    schema: { hide: true, querystring: CsvQuery },
    handler: async (request, reply) => sendCsv(reply, 'customers.csv', customerCsvColumns, customerCsvRows(app.db, request.query, principalOf(request))),
  });

  /** The customer page, with `flash` and the answer's status (a refused change re-draws it). */
  async function showCustomer(request: FastifyRequest, reply: FastifyReply, id: string, flash: Flash | null, status = 200) {
    const ctx = contextOf(request, reply);
    const viewer = principalOf(request);
    const customer = await getCustomer(app.db, id, viewer);
    const [program, domains, tasks, history, owners, contacts, events, links, live] = await Promise.all([
      getProgram(app.db, customer.programId),
      Promise.all(customer.domains.map((d) => getDomain(app.db, d.id, viewer))),
      listTasks(app.db, { limit: 100, customerId: id, status: ['open'] }, viewer, app.now()),
      customerHistory(app.db, id, viewer, 50),
      visibleOwners(request),
      listContacts(app.db, id, viewer),
      listContactEvents(app.db, id, viewer, 50),
      listSelfCheckLinks(app.db, id, viewer, app.now()),
      liveLinkOf(app.db, id, app.now(), app.config.LINK_SECRET),
    ]);
    const recipient = contacts.find((k) => k.role === 'technical' && k.email)?.email ?? null;
    const outreach = {
      links,
      liveUrl: live ? `${publicBase(request, app.config.PUBLIC_URL)}/check/${live.token}` : null,
      recipient,
      canSend: Boolean(app.config.SMTP_URL),
    };
    const final = finalStatuses.includes(customer.status);
    // An admin may reopen a final customer (with a reason); others see no buttons there.
    const reopening = final && viewer.role === 'admin';
    const targets: CustomerStatus[] = reopening ? progress.filter((s) => s !== 'completed') : nextStatuses(customer.status, customer.statusBeforeHold);
    const page = customerPage(
      ctx,
      customer,
      {
        owner: owners.get(customer.salesOwnerId) ?? null,
        program,
        domains,
        tasks: tasks.items,
        history: history.items,
        contacts,
        events: events.items,
        targets,
        reopening,
        mayOverride: viewer.role !== 'sales',
        outreach,
      },
      flash,
    );
    return html(reply, page, status);
  }

  /**
   * Runs a change of the customer; a refusal re-draws the page with the reason (a stale version: who
   * changed what since, and a reload link) and the status the API would answer (412 → 409 here: the
   * page is the conflict's resolution).
   */
  async function changeOrExplain(request: FastifyRequest, reply: FastifyReply, id: string, change: () => Promise<string>) {
    try {
      return seeOther(reply, await change());
    } catch (err) {
      const refused = shownError(err);
      if (!refused || isAppError(err, 'customerNotFound')) throw err;
      const { lang } = contextOf(request, reply);
      if (isAppError(err, 'versionMismatch')) {
        const latest = (await customerHistory(app.db, id, principalOf(request), 1)).items[0];
        const { timezone } = await getProgram(app.db, (await getCustomer(app.db, id, principalOf(request))).programId);
        const who = latest
          ? `<p>${t(lang, 'conflictLatest', { actor: latest.actor, at: formatTime(lang, latest.at, timezone), what: historyText(lang, latest) })}</p>`
          : '';
        const message = `<strong>${t(lang, 'conflictTitle')}</strong>${who}<p>${t(lang, 'conflictNothing')} <a href="/dashboard/customers/${id}">${t(lang, 'reload')}</a></p>`;
        return showCustomer(request, reply, id, { kind: 'error', html: message }, 409);
      }
      return showCustomer(request, reply, id, { kind: 'error', html: escapeHtml(refusalText(lang, refused)) }, refused.statusCode);
    }
  }

  app.get('/customers/:id', {
    config: { page: 'any' },
    schema: { hide: true, params: IdParams, querystring: PageQuery },
    handler: async (request, reply) => showCustomer(request, reply, request.params.id, flashOf(request, contextOf(request, reply).lang)),
  });

  app.post('/customers/:id/transition', {
    config: { page: 'any' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) =>
      changeOrExplain(request, reply, request.params.id, async () => {
        const form = formOf(request);
        const version = formVersion(form);
        const input = parseForm(Transition, { to: form.to, note: orNull(form.note) ?? undefined, overrideReason: orNull(form.overrideReason) ?? undefined });
        const id = request.params.id;
        await transitionCustomer(app.db, id, input, version, principalOf(request), actorOf(request), app.now());
        return withNotice(`/dashboard/customers/${id}`, 'statusChanged', { to: input.to });
      }),
  });

  app.post('/customers/:id/details', {
    config: { page: 'any' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) =>
      changeOrExplain(request, reply, request.params.id, async () => {
        const form = formOf(request);
        const version = formVersion(form);
        const patch = parseForm(PatchCustomer, {
          plannedMigrationAt: orNull(form.plannedMigrationAt),
          successorAccountRef: orNull(form.successorAccountRef),
          notes: orNull(form.notes),
        });
        const id = request.params.id;
        await updateCustomer(app.db, id, patch, version, principalOf(request), actorOf(request), app.now());
        return withNotice(`/dashboard/customers/${id}`, 'detailsSaved');
      }),
  });

  app.post('/customers/:id/contacts', {
    config: { page: 'any' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) =>
      changeOrExplain(request, reply, request.params.id, async () => {
        const form = formOf(request);
        const input = parseForm(CreateContact, {
          name: form.name,
          email: orNull(form.email) ?? undefined,
          phone: orNull(form.phone) ?? undefined,
          role: form.role,
          language: form.language,
        });
        await createContact(app.db, request.params.id, input, principalOf(request), actorOf(request), app.now());
        return withNotice(`/dashboard/customers/${request.params.id}`, 'contactSaved');
      }),
  });

  app.post('/customers/:id/contacts/events', {
    config: { page: 'any' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) =>
      changeOrExplain(request, reply, request.params.id, async () => {
        const form = formOf(request);
        const input = parseForm(ContactEventInput, { kind: form.kind, summary: form.summary, contactId: orNull(form.contactId) ?? undefined });
        await logContactEvent(app.db, request.params.id, input, principalOf(request), actorOf(request), app.now());
        return withNotice(`/dashboard/customers/${request.params.id}`, 'eventLogged');
      }),
  });

  app.post('/customers/:id/self-check-links', {
    config: { page: 'any' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) =>
      changeOrExplain(request, reply, request.params.id, async () => {
        const id = request.params.id;
        await createSelfCheckLink(
          app.db,
          id,
          { expiresInDays: SELF_CHECK_DEFAULT_DAYS },
          principalOf(request),
          actorOf(request),
          app.now(),
          app.config.LINK_SECRET,
        );
        return withNotice(`/dashboard/customers/${id}`, 'linkMade');
      }),
  });

  app.post('/customers/:id/self-check-links/:linkId/revoke', {
    config: { page: 'any' },
    schema: { hide: true, params: LinkParams },
    handler: async (request, reply) =>
      changeOrExplain(request, reply, request.params.id, async () => {
        const { id, linkId } = request.params;
        await revokeSelfCheckLink(app.db, id, linkId, principalOf(request), actorOf(request), app.now());
        return withNotice(`/dashboard/customers/${id}`, 'linkRevoked');
      }),
  });

  /** The notice as the API renders it: text to read or copy, or the .eml to open in a mail program. */
  app.get('/customers/:id/notice', {
    config: { page: 'any' },
    schema: {
      hide: true,
      params: IdParams,
      querystring: NoticeQuery.extend({ noticeLang: NoticeQuery.shape.lang }).omit({ lang: true }).extend(PageQuery.shape),
    },
    handler: async (request, reply) => sendNoticeAs(request, reply, request.params.id, request.query.noticeLang, request.query.format),
  });

  app.post('/customers/:id/notice/send', {
    config: { page: 'any' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) =>
      changeOrExplain(request, reply, request.params.id, async () => {
        const id = request.params.id;
        const sent = await sendNotice(app.db, id, undefined, principalOf(request), actorOf(request), app.now(), {
          ...noticeOptionsOf(request),
          transport: app.mail,
        });
        return withNotice(`/dashboard/customers/${id}`, 'noticeSent', { to: sent.to.email });
      }),
  });

  app.post('/contacts/:id/delete', {
    config: { page: 'any' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) => {
      const removed = await deleteContact(app.db, request.params.id, principalOf(request), actorOf(request), app.now());
      return seeOther(reply, withNotice(`/dashboard/customers/${removed.customerId}`, 'contactRemoved'));
    },
  });

  app.post('/domains/:id/check', {
    config: { page: 'any' },
    schema: { hide: true, params: IdParams },
    handler: async (request, reply) => {
      const viewer = principalOf(request);
      const domain = await getDomain(app.db, request.params.id, viewer);
      const back = returnPath(formOf(request).return, `/dashboard/customers/${domain.customerId}`);
      try {
        await requestDomainCheck(app.db, domain.id, viewer, actorOf(request), app.now());
        return seeOther(reply, withNotice(back, 'checkQueued', { domain: domain.displayName }));
      } catch (err) {
        if (!isAppError(err, 'checkTooSoon')) throw err;
        const { lang } = contextOf(request, reply);
        const seconds = err.extra.headers?.['retry-after'] ?? '60';
        const flash: Flash = { kind: 'error', html: t(lang, 'checkTooSoon', { domain: domain.displayName, seconds }) };
        return showCustomer(request, reply, domain.customerId, flash, 429);
      }
    },
  });
};
