import { and, asc, eq, isNotNull } from 'drizzle-orm';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { Db } from '../../db/client.ts';
import { customerContacts, noticeTemplates, salesOwners } from '../../db/schema/index.ts';
import type { Viewer } from '../access/access.ts';
import { appendAudit, type Actor } from '../audit/audit-repository.ts';
import type { Role } from '../../db/schema/enums.ts';
import { logContactEvent } from '../contacts/contact-service.ts';
import type { CustomerQuery } from '../customers/customer-schemas.ts';
import { getCustomer, listCustomers } from '../customers/customer-service.ts';
import { excerpt } from '../lib/storable-text.ts';
import { allPages } from '../reports/report-service.ts';
import { getDomain } from '../domains/domain-service.ts';
import { errors, validationError } from '../errors.ts';
import { getProgram } from '../programs/program-service.ts';
import { domainActions, type DomainActions } from './domain-actions.ts';
import {
  defaultTemplates,
  domainLines,
  domainsText,
  fill,
  noticeDate,
  noticeLangs,
  templateProblems,
  type NoticeLang,
  type NoticeTemplate,
  type Placeholder,
} from './notice-templates.ts';
import { createSelfCheckLink, liveLinkOf, SELF_CHECK_DEFAULT_DAYS } from './self-check-service.ts';

/*
 * Outreach notices: the one writer of notice_templates. A notice tells one customer, in their technical
 * contact's language, the dates and per domain exactly what to change (from the latest checks), with
 * the link to their self-check page; as plain text, HTML, or a ready RFC 5322 message.
 */

// ---------------------------------------------------------------------------------------------------
// Templates

/** The program's templates per language, each saying whether it is the shipped default. */
export async function getNoticeTemplates(db: Db, programId: string) {
  await getProgram(db, programId);
  const rows = await db.select().from(noticeTemplates).where(eq(noticeTemplates.programId, programId));
  return Object.fromEntries(
    noticeLangs.map((lang) => {
      const row = rows.find((r) => r.language === lang);
      return [
        lang,
        row
          ? { subject: row.subject, body: row.body, isDefault: false, updatedAt: row.updatedAt.toISOString(), updatedBy: row.updatedBy }
          : { ...defaultTemplates[lang], isDefault: true, updatedAt: null, updatedBy: null },
      ];
    }),
  ) as Record<NoticeLang, NoticeTemplate & { isDefault: boolean; updatedAt: string | null; updatedBy: string | null }>;
}

/** Replaces a language's template (null: back to the default); refused whole when any template is invalid. */
export async function putNoticeTemplates(db: Db, programId: string, input: Partial<Record<NoticeLang, NoticeTemplate | null>>, actor: Actor, now: Date) {
  const problems = noticeLangs.flatMap((lang) => {
    const template = input[lang];
    return template ? templateProblems(template).map((p) => ({ path: `body.${lang}.${p.field}`, message: p.message })) : [];
  });
  if (problems.length > 0) throw validationError(problems);
  return db.transaction(async (tx) => {
    const before = await getNoticeTemplates(tx, programId);
    for (const lang of noticeLangs) {
      const template = input[lang];
      if (template === undefined) continue;
      if (template === null) {
        await tx.delete(noticeTemplates).where(and(eq(noticeTemplates.programId, programId), eq(noticeTemplates.language, lang)));
        continue;
      }
      const values = { subject: template.subject, body: template.body, updatedAt: now, updatedBy: actor.name };
      await tx
        .insert(noticeTemplates)
        .values({ programId, language: lang, ...values })
        .onConflictDoUpdate({ target: [noticeTemplates.programId, noticeTemplates.language], set: values });
    }
    const after = await getNoticeTemplates(tx, programId);
    await appendAudit(tx, actor, { action: 'program.notice_templates_changed', entityType: 'program', entityId: programId, before, after }, now);
    return after;
  });
}

// ---------------------------------------------------------------------------------------------------
// Rendering

export interface NoticeOptions {
  /** LINK_SECRET, to carry the customer's self-check URL. */
  linkSecret: string | undefined;
  /** Where people reach the service (PUBLIC_URL or the request's address). */
  baseUrl: string;
  /** The envelope sender and From: MAIL_FROM; unset, the sales owner. */
  mailFrom: string | undefined;
}

export interface Notice {
  customerId: string;
  lang: NoticeLang;
  subject: string;
  text: string;
  html: string;
  /** The technical contact the notice is for (null: the customer has none with an email). */
  to: { name: string; email: string } | null;
  /** The sales owner: replies go to them. */
  replyTo: { name: string; email: string };
  /** The contact's id, for the contact log. */
  contactId: string | null;
  selfCheckUrl: string | null;
  linkId: string | null;
  domains: DomainActions[];
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The technical contact a notice goes to: one with an email, the oldest first. */
async function technicalContact(db: Db, customerId: string) {
  const [row] = await db
    .select()
    .from(customerContacts)
    .where(and(eq(customerContacts.customerId, customerId), eq(customerContacts.role, 'technical'), isNotNull(customerContacts.email)))
    .orderBy(asc(customerContacts.createdAt), asc(customerContacts.id))
    .limit(1);
  return row ?? null;
}

/** The HTML body: the template's text escaped, paragraphs kept, the domains as lists with each record in a block of its own. */
function toHtml(lang: NoticeLang, body: string, values: Record<Placeholder, string>, domains: DomainActions[], url: string | null) {
  const DOMAINS = '\u0000domains\u0000';
  const URL_MARK = '\u0000url\u0000';
  const filled = fill(body, { ...values, domains: DOMAINS, self_check_url: url ? URL_MARK : '' });
  const block = domains
    .map((d) => {
      const items = domainLines(lang, d).map((l) =>
        l.record ? `<li><pre style="white-space:pre-wrap;background:#f1f3f5;padding:.5em">${escapeHtml(l.text)}</pre></li>` : `<li>${escapeHtml(l.text)}</li>`,
      );
      return `<h3>${escapeHtml(d.displayName)}</h3><ul>${items.join('')}</ul>`;
    })
    .join('');
  const link = url ? `<a href="${escapeHtml(url)}">${escapeHtml(url)}</a>` : '';
  const paragraphs = filled
    .split(/\n{2,}/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => (p === DOMAINS ? block : `<p>${escapeHtml(p).replace(/\n/g, '<br>\n')}</p>`))
    .join('\n');
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"></head><body>\n${paragraphs.replaceAll(escapeHtml(URL_MARK), link).replaceAll(DOMAINS, block)}\n</body></html>`;
}

/** The notice for one customer the viewer sees, in `lang` (default: the technical contact's language, else Japanese). */
export async function buildNotice(
  db: Db,
  customerId: string,
  lang: NoticeLang | undefined,
  viewer: Viewer,
  now: Date,
  options: NoticeOptions,
): Promise<Notice> {
  const customer = await getCustomer(db, customerId, viewer);
  const [program, contact, [owner], link] = await Promise.all([
    getProgram(db, customer.programId),
    technicalContact(db, customerId),
    db.select({ name: salesOwners.name, email: salesOwners.email }).from(salesOwners).where(eq(salesOwners.id, customer.salesOwnerId)),
    liveLinkOf(db, customerId, now, options.linkSecret),
  ]);
  const language: NoticeLang = lang ?? contact?.language ?? 'ja';
  const template = (await getNoticeTemplates(db, program.id))[language];
  const expected = { successorMxHostSuffixes: program.successor.mxHostSuffixes, successorDkimSelectors: program.successor.dkimSelectors };
  const domains = (await Promise.all(customer.domains.map((d) => getDomain(db, d.id, viewer)))).map((d) => domainActions(d, expected));
  const url = link ? `${options.baseUrl}/check/${link.token}` : null;
  const values: Record<Placeholder, string> = {
    customer_name: customer.name,
    contact_name: contact?.name ?? '',
    sales_owner_name: owner!.name,
    legacy_service: program.legacyService,
    successor_service: program.successorService,
    shutdown_date: noticeDate(language, program.shutdownAt),
    deletion_date: noticeDate(language, program.spfRecordDeletionAt ?? program.shutdownAt),
    domains: domainsText(language, domains),
    self_check_url: url ?? '',
  };
  return {
    customerId,
    lang: language,
    subject: fill(template.subject, values).replace(/\s+/g, ' ').trim(),
    text: fill(template.body, values),
    html: toHtml(language, template.body, values, domains, url),
    to: contact?.email ? { name: contact.name, email: contact.email } : null,
    contactId: contact?.id ?? null,
    replyTo: { name: owner!.name, email: owner!.email },
    selfCheckUrl: url,
    linkId: link?.link.id ?? null,
    domains,
  };
}

/** The notice as an RFC 5322 message: UTF-8, MIME-encoded headers, text and HTML alternatives. */
export async function noticeMessage(notice: Notice, options: Pick<NoticeOptions, 'mailFrom'>, withRecipient = true): Promise<Buffer> {
  const from = options.mailFrom ?? { name: notice.replyTo.name, address: notice.replyTo.email };
  const composer = new MailComposer({
    from,
    ...(withRecipient && notice.to ? { to: { name: notice.to.name, address: notice.to.email } } : {}),
    replyTo: { name: notice.replyTo.name, address: notice.replyTo.email },
    subject: notice.subject,
    text: notice.text,
    html: notice.html,
    textEncoding: 'base64',
  });
  return composer.compile().build();
}

/** The notices of a program's customers the viewer sees, filtered as the customer list is, one at a time. */
export async function* programNotices(
  db: Db,
  programId: string,
  filter: Omit<CustomerQuery, 'limit' | 'cursor' | 'programId'>,
  viewer: Viewer,
  now: Date,
  options: NoticeOptions,
  lang?: NoticeLang,
) {
  await getProgram(db, programId);
  for await (const customer of allPages((cursor) => listCustomers(db, { ...filter, programId, limit: 200, cursor }, viewer))) {
    yield { externalRef: customer.externalRef, name: customer.name, notice: await buildNotice(db, customer.id, lang, viewer, now, options) };
  }
}

/** Sends mail: nodemailer's transport, or a test's. */
export interface MailTransport {
  sendMail(mail: { envelope: { from: string; to: string[] }; raw: Buffer }): Promise<{ messageId?: string }>;
}

/**
 * Sends the notice to the customer's technical contact, with a self-check link (a new one when the
 * customer has none live), and logs it as an email in the contact log, which moves a not_contacted
 * customer to contacted. The mail goes out inside the transaction: a refusal by the mail server
 * leaves nothing logged and no link made.
 */
export async function sendNotice(
  db: Db,
  customerId: string,
  lang: NoticeLang | undefined,
  viewer: Viewer & { role: Role },
  actor: Actor,
  now: Date,
  options: NoticeOptions & { transport: MailTransport | null },
) {
  return db.transaction(async (tx) => {
    let notice = await buildNotice(tx, customerId, lang, viewer, now, options);
    const transport = options.transport;
    if (!transport) throw errors.smtpNotConfigured();
    const to = requireRecipient(notice);
    if (!notice.linkId) {
      await createSelfCheckLink(tx, customerId, { expiresInDays: SELF_CHECK_DEFAULT_DAYS }, viewer, actor, now, options.linkSecret);
      notice = await buildNotice(tx, customerId, lang, viewer, now, options);
    }
    const message = await noticeMessage(notice, options);
    const envelopeFrom = options.mailFrom ? addressOf(options.mailFrom) : notice.replyTo.email;
    let messageId: string | undefined;
    try {
      messageId = (await transport.sendMail({ envelope: { from: envelopeFrom, to: [to.email] }, raw: message })).messageId;
    } catch (err) {
      throw errors.noticeSendFailed(err instanceof Error ? err.message : String(err));
    }
    const summary = `${notice.lang === 'ja' ? '案内を送信' : 'Notice sent'}: ${notice.subject}`;
    await logContactEvent(tx, customerId, { kind: 'email', summary: excerpt(summary, 2000), contactId: notice.contactId ?? undefined }, viewer, actor, now);
    const sent = { to, subject: notice.subject, lang: notice.lang, messageId: messageId ?? null, linkId: notice.linkId, selfCheckUrl: notice.selfCheckUrl };
    await appendAudit(tx, actor, { action: 'notice.sent', entityType: 'customer', entityId: customerId, after: { ...sent, selfCheckUrl: undefined } }, now);
    return sent;
  });
}

/** The bare address of "Name <address>" or "address". */
const addressOf = (from: string) => /<([^>]+)>\s*$/.exec(from)?.[1] ?? from.trim();

/** Refused when the notice has no one to go to. */
export function requireRecipient(notice: Notice) {
  if (!notice.to) throw errors.noticeNoRecipient(notice.customerId);
  return notice.to;
}
