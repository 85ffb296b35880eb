import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Zip, ZipDeflate } from 'fflate';
import { z } from 'zod';
import { IdParams } from '../http/common-schemas.ts';
import { csvLine } from '../http/csv.ts';
import { publicBase } from '../http/public-base.ts';
import { actorOf, principalOf } from '../http/principal.ts';
import { problem } from '../http/problems.ts';
import { placeholders, type NoticeLang } from './notice-templates.ts';
import {
  buildNotice,
  getNoticeTemplates,
  noticeMessage,
  programNotices,
  putNoticeTemplates,
  requireRecipient,
  sendNotice,
  type NoticeOptions,
} from './notice-service.ts';
import {
  CreatedSelfCheckLink,
  CreateSelfCheckLink,
  LinkParams,
  NoticeQuery,
  NoticeSendInput,
  NoticeSent,
  NoticesZipQuery,
  NoticeTemplates,
  PutNoticeTemplates,
  SelfCheckLink,
} from './outreach-schemas.ts';
import { createSelfCheckLink, getSelfCheckLink, listSelfCheckLinks, revokeSelfCheckLink } from './self-check-service.ts';

const invalid = problem('A field is invalid; `errors` names each one');
const customerNotFound = problem('No such customer visible to this token');

/** A file name from an external ref: letters, digits, - and _ kept, anything else _. */
const fileNameOf = (ref: string) =>
  ref
    .normalize('NFKC')
    .replace(/[^\p{L}\p{N}_-]+/gu, '_')
    .slice(0, 100) || 'customer';

/** What rendering a notice needs from the configuration and the request (the API's and the web app's alike). */
export const noticeOptionsOf = (request: FastifyRequest): NoticeOptions => ({
  linkSecret: request.server.config.LINK_SECRET,
  baseUrl: publicBase(request, request.server.config.PUBLIC_URL),
  mailFrom: request.server.config.MAIL_FROM,
});

/** A customer's notice as `format` asks: text, HTML, or the .eml (which needs a recipient: 409 otherwise). */
export async function sendNoticeAs(
  request: FastifyRequest,
  reply: FastifyReply,
  customerId: string,
  lang: NoticeLang | undefined,
  format: 'text' | 'html' | 'eml',
) {
  const options = noticeOptionsOf(request);
  const notice = await buildNotice(request.server.db, customerId, lang, principalOf(request), request.server.now(), options);
  reply.header('content-language', notice.lang);
  if (format === 'html') return reply.type('text/html; charset=utf-8').send(notice.html);
  if (format === 'text') return reply.type('text/plain; charset=utf-8').send(notice.text);
  requireRecipient(notice);
  return reply
    .type('message/rfc822')
    .header('content-disposition', `attachment; filename="notice-${notice.lang}.eml"`)
    .send(await noticeMessage(notice, options));
}

/** Reaching customers: self-check links and notices. Whoever may see the customer may use them. */
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
      const { link, token } = await createSelfCheckLink(
        app.db,
        request.params.id,
        request.body,
        principalOf(request),
        actorOf(request),
        app.now(),
        app.config.LINK_SECRET,
      );
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

  app.get('/customers/:id/self-check-links/:linkId', {
    config: { access: 'any' },
    schema: {
      tags: ['outreach'],
      summary: 'One self-check link: its state, when it was last opened (never its URL)',
      params: LinkParams,
      response: { 200: SelfCheckLink, 400: invalid, 404: problem('No such customer or link visible to this token') },
    },
    handler: async (request) => getSelfCheckLink(app.db, request.params.id, request.params.linkId, principalOf(request), app.now()),
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

  app.get('/programs/:id/notice-templates', {
    config: { access: 'any' },
    schema: {
      tags: ['outreach'],
      summary: 'The program’s notice templates per language (the shipped default where it has none), and the placeholders a template may use',
      params: IdParams,
      response: { 200: NoticeTemplates, 400: invalid, 404: problem('No such program') },
    },
    handler: async (request) => ({ ...(await getNoticeTemplates(app.db, request.params.id)), placeholders: placeholderList }),
  });

  app.put('/programs/:id/notice-templates', {
    config: { access: 'admin' },
    schema: {
      tags: ['outreach'],
      summary: 'Replace the notice template of a language (null: back to the default)',
      description:
        'Subject and body may use only the known placeholders (`{{customer_name}}`…, see GET); the body must contain `{{domains}}`. An invalid template is a 400 naming the field; nothing is saved.',
      params: IdParams,
      body: PutNoticeTemplates,
      response: { 200: NoticeTemplates, 400: invalid, 404: problem('No such program') },
    },
    handler: async (request) => ({
      ...(await putNoticeTemplates(app.db, request.params.id, request.body, actorOf(request), app.now())),
      placeholders: placeholderList,
    }),
  });

  app.get('/customers/:id/notice', {
    config: { access: 'any' },
    schema: {
      tags: ['outreach'],
      summary: 'The outreach notice for a customer: dates, per domain what to change, the self-check link',
      description:
        'In the technical contact’s language unless `lang` says otherwise. `format=text` (default) or `html`; `eml` is a ready RFC 5322 message (UTF-8, MIME-encoded headers) to the technical contact, replies to the sales owner. ' +
        'The self-check link is the customer’s newest live one (make one first with POST …/self-check-links); without one the notice has none.',
      params: IdParams,
      querystring: NoticeQuery,
      produces: ['text/plain', 'text/html', 'message/rfc822'],
      response: {
        200: z.string().describe('The notice, as `format` asks: text/plain, text/html or message/rfc822'),
        400: invalid,
        404: customerNotFound,
        409: problem('format=eml and the customer has no technical contact with an email'),
      },
    },
    // A Buffer is sent as it is (the 200 schema documents it; nothing is serialized).
    handler: async (request, reply) => sendNoticeAs(request, reply, request.params.id, request.query.lang, request.query.format),
  });

  app.post('/customers/:id/notice/send', {
    config: { access: 'any' },
    schema: {
      tags: ['outreach'],
      summary: 'Send the notice to the technical contact (SMTP_URL), log it as an email, and move a not_contacted customer to contacted',
      description:
        'A customer without a live self-check link gets one (60 days) and the notice carries it. The mail goes out before anything is saved: a refusal by the mail server (502) logs nothing.',
      params: IdParams,
      body: NoticeSendInput,
      response: {
        200: NoticeSent,
        400: invalid,
        404: customerNotFound,
        409: problem('SMTP_URL is not set, or the customer has no technical contact with an email'),
        502: problem('The mail server refused the notice'),
      },
    },
    handler: async (request) => {
      return sendNotice(app.db, request.params.id, request.body.lang, principalOf(request), actorOf(request), app.now(), {
        ...noticeOptionsOf(request),
        transport: app.mail,
      });
    },
  });

  app.get('/programs/:id/notices.zip', {
    config: { access: 'manager' },
    schema: {
      tags: ['outreach'],
      summary: 'Every notice of the program’s customers the caller sees, for mail merge: a .eml and a .txt per customer and index.csv',
      description:
        'Filters as GET /v1/customers. Contact emails are personal data: an admin’s file has them (in `To:` and index.csv); a manager’s leaves them out.',
      params: IdParams,
      querystring: NoticesZipQuery,
      produces: ['application/zip'],
      response: { 200: z.string().describe('A ZIP file'), 400: invalid, 404: problem('No such program') },
    },
    handler: async (request, reply) => {
      const { lang, ...filter } = request.query;
      const viewer = principalOf(request);
      const withEmails = viewer.role === 'admin';
      const options = noticeOptionsOf(request);
      const notices = programNotices(app.db, request.params.id, filter, viewer, app.now(), options, lang);
      const first = await notices.next(); // a missing program is a 404, not a broken download
      const out = new PassThrough();
      const zip = new Zip((err, chunk, final) => {
        if (err) out.destroy(err);
        else {
          out.write(Buffer.from(chunk));
          if (final) out.end();
        }
      });
      const add = (name: string, data: Buffer | string) => {
        const file = new ZipDeflate(name, { level: 6 });
        zip.add(file);
        file.push(typeof data === 'string' ? Buffer.from(data) : data, true);
      };
      void (async () => {
        let index = `\uFEFF${csvLine(['external_ref', 'customer_name', 'language', 'contact_name', 'contact_email', 'subject', 'self_check_url', 'eml', 'txt'])}`;
        const taken = new Set<string>();
        for (let item = first; !item.done; item = await notices.next()) {
          const { externalRef, name, notice } = item.value;
          let base = fileNameOf(externalRef);
          for (let i = 2; taken.has(base); i++) base = `${fileNameOf(externalRef)}-${i}`;
          taken.add(base);
          add(`${base}.eml`, await noticeMessage(notice, options, withEmails));
          add(`${base}.txt`, notice.text);
          index += csvLine([
            externalRef,
            name,
            notice.lang,
            notice.to?.name ?? '',
            withEmails ? (notice.to?.email ?? '') : '',
            notice.subject,
            notice.selfCheckUrl ?? '',
            `${base}.eml`,
            `${base}.txt`,
          ]);
          if (out.writableNeedDrain) await new Promise((resolve) => out.once('drain', resolve));
        }
        add('index.csv', index);
        zip.end();
      })().catch((err: unknown) => out.destroy(err as Error));
      return (reply as FastifyReply).type('application/zip').header('content-disposition', `attachment; filename="notices-${request.params.id}.zip"`).send(out);
    },
  });
};

const placeholderList = Object.entries(placeholders).map(([name, description]) => ({ name: `{{${name}}}`, description }));
