import { z } from 'zod';
import { contactEventKinds, contactLanguages, contactRoles } from '../../db/schema/enums.ts';
import { Timestamp } from '../http/common-schemas.ts';
import { Page } from '../http/pagination.ts';

const Email = z
  .email({ error: 'expected an email address' })
  .max(254)
  .transform((e) => e.trim().toLowerCase());
const Phone = z
  .string()
  .trim()
  .regex(/^\+?[0-9][0-9 ()-]{5,30}$/, { error: 'expected a phone number: digits, spaces, ( ) and -, optionally a leading +' });

const fields = {
  name: z.string().trim().min(1).max(200),
  email: Email.nullable(),
  phone: Phone.nullable(),
  role: z.enum(contactRoles).meta({ description: 'technical: edits the DNS (notices go to them); business: decides' }),
  language: z.enum(contactLanguages).meta({ description: 'The language notices to this contact are written in' }),
};

/** At least one way to reach them. */
const reachable = (c: { email?: string | null | undefined; phone?: string | null | undefined }) => Boolean(c.email || c.phone);

export const CreateContact = z
  .strictObject({ ...fields, email: fields.email.optional(), phone: fields.phone.optional(), language: fields.language.default('ja') })
  .refine(reachable, { error: 'give an email or a phone number', path: ['email'] })
  .meta({ examples: [{ name: '山田 太郎', email: 'yamada@sample-shoji.co.jp', role: 'technical', language: 'ja' }] });
export type CreateContact = z.infer<typeof CreateContact>;

export const PatchContact = z
  .strictObject(fields)
  .partial()
  .meta({ examples: [{ phone: '03-1234-5678' }] });
export type PatchContact = z.infer<typeof PatchContact>;

export const Contact = z
  .object({
    id: z.uuid(),
    customerId: z.uuid(),
    name: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    role: z.enum(contactRoles),
    language: z.enum(contactLanguages),
    version: z.number().int().meta({ description: 'Also sent as the ETag' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'Contact' });
export type Contact = z.infer<typeof Contact>;

export const ContactEventInput = z
  .strictObject({
    kind: z.enum(contactEventKinds).meta({ description: 'call, email or meeting (contact: moves not_contacted to contacted), or note' }),
    summary: z.string().trim().min(1).max(2000),
    contactId: z.uuid().optional().meta({ description: 'Whom it was with: one of the customer\u2019s contacts' }),
    at: Timestamp.optional().meta({ description: 'When it happened (default: now; not in the future)' }),
  })
  .meta({ examples: [{ kind: 'call', summary: '7/15 に切替と合意', contactId: '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d' }] });
export type ContactEventInput = z.infer<typeof ContactEventInput>;

export const ContactEvent = z
  .object({
    id: z.uuid(),
    customerId: z.uuid(),
    contactId: z.uuid().nullable(),
    kind: z.enum(contactEventKinds),
    summary: z.string(),
    actor: z.string(),
    at: Timestamp,
  })
  .meta({ id: 'ContactEvent' });
export const ContactEventPage = Page(ContactEvent).meta({ id: 'ContactEventPage' });
