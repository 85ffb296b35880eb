import { z } from 'zod';
import { CustomerQuery } from '../customers/customer-schemas.ts';
import { Timestamp } from '../http/common-schemas.ts';
import { SELF_CHECK_DEFAULT_DAYS } from './self-check-service.ts';

export const CreateSelfCheckLink = z
  .strictObject({
    expiresInDays: z
      .number()
      .int()
      .min(1)
      .max(365)
      .default(SELF_CHECK_DEFAULT_DAYS)
      .meta({ description: `Days until the link stops working (default ${SELF_CHECK_DEFAULT_DAYS})` }),
  })
  .meta({ examples: [{ expiresInDays: 30 }] });

export const SelfCheckLink = z
  .object({
    id: z.uuid(),
    customerId: z.uuid(),
    state: z.enum(['active', 'expired', 'revoked']),
    createdAt: Timestamp,
    createdBy: z.string(),
    expiresAt: Timestamp,
    revokedAt: Timestamp.nullable(),
    revokedBy: z.string().nullable(),
    lastOpenedAt: Timestamp.nullable().meta({ description: 'When the page was last opened with this link' }),
  })
  .meta({ id: 'SelfCheckLink' });

export const CreatedSelfCheckLink = SelfCheckLink.extend({
  url: z.url().meta({ description: 'The page to give the customer: shown this once (only a hash of its token is kept)' }),
}).meta({ id: 'CreatedSelfCheckLink' });

export const LinkParams = z.object({ id: z.uuid(), linkId: z.uuid() });

const Lang = z.enum(['ja', 'en']);

export const NoticeQuery = z.object({
  lang: Lang.optional().meta({ description: 'ja or en; default: the technical contact’s language, else ja' }),
  format: z.enum(['text', 'html', 'eml']).default('text'),
});

export const NoticesZipQuery = CustomerQuery.omit({ limit: true, cursor: true, programId: true }).extend({
  lang: Lang.optional().meta({ description: 'One language for every notice; default: each technical contact’s' }),
});

export const NoticeSendInput = z.strictObject({ lang: Lang.optional() }).meta({ examples: [{ lang: 'ja' }] });

export const NoticeSent = z
  .object({
    to: z.object({ name: z.string(), email: z.string() }),
    subject: z.string(),
    lang: Lang,
    messageId: z.string().nullable(),
    linkId: z.uuid().nullable().meta({ description: 'The self-check link the notice carries' }),
    selfCheckUrl: z.url().nullable(),
  })
  .meta({ id: 'NoticeSent' });

const Template = z.strictObject({
  subject: z.string().trim().min(1).max(300),
  body: z.string().min(1).max(20_000),
});
const StoredTemplate = Template.extend({
  isDefault: z.boolean().meta({ description: 'The shipped wording (the program has none of its own)' }),
  updatedAt: Timestamp.nullable(),
  updatedBy: z.string().nullable(),
});

export const NoticeTemplates = z
  .object({
    ja: StoredTemplate,
    en: StoredTemplate,
    placeholders: z.array(z.object({ name: z.string(), description: z.string() })),
  })
  .meta({ id: 'NoticeTemplates' });

export const PutNoticeTemplates = z
  .strictObject({ ja: Template.nullable().optional(), en: Template.nullable().optional() })
  .meta({ examples: [{ en: { subject: 'DNS changes for {{customer_name}}', body: 'Dear {{contact_name}},\n\n{{domains}}\n\nCheck: {{self_check_url}}\n' } }] });
