import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { col, rowsOf, type Db } from '../../db/client.ts';
import { contactEvents, customerContacts, customers } from '../../db/schema/index.ts';
import type { contactLanguages, Role } from '../../db/schema/enums.ts';
import { customerScope, type Viewer } from '../access/access.ts';
import { appendAudit, appendAudits, type Actor } from '../audit/audit-repository.ts';
import { errors, validationError } from '../errors.ts';
import { requireVisibleCustomer, transitionCustomer } from '../customers/customer-service.ts';
import { cursorInstant, decodeCursor, toPage } from '../lib/cursor.ts';
import { chunk } from '../lib/batches.ts';
import { excerpt } from '../lib/storable-text.ts';
import { assertVersion } from '../lib/versions.ts';
import { z } from 'zod';
import type { Contact, ContactEventInput, CreateContact, PatchContact } from './contact-schemas.ts';

/*
 * A customer's contacts and its contact log: the one module that writes customer_contacts and
 * contact_events. Whoever may see the customer
 * may see and change its contacts (a rep keeps their own customers' people up to date); every change
 * is audited under the customer, so it shows in the customer's history.
 */

type ContactRow = typeof customerContacts.$inferSelect;

const toContact = (row: ContactRow): Contact => ({
  id: row.id,
  customerId: row.customerId,
  name: row.name,
  email: row.email,
  phone: row.phone,
  role: row.role,
  language: row.language,
  version: row.version,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

/** A contact whose customer the viewer may see, locked for a change, or 404. */
async function lockVisibleContact(db: Db, id: string, viewer: Viewer) {
  const [row] = await db
    .select({ contact: customerContacts })
    .from(customerContacts)
    .innerJoin(customers, eq(customers.id, customerContacts.customerId))
    .where(and(eq(customerContacts.id, id), customerScope(viewer)))
    .for('no key update', { of: customerContacts });
  if (!row) throw errors.contactNotFound(id);
  return row.contact;
}

/** One contact whose customer the viewer may see, or 404. */
export async function getContact(db: Db, id: string, viewer: Viewer) {
  const [row] = await db
    .select({ contact: customerContacts })
    .from(customerContacts)
    .innerJoin(customers, eq(customers.id, customerContacts.customerId))
    .where(and(eq(customerContacts.id, id), customerScope(viewer)));
  if (!row) throw errors.contactNotFound(id);
  return toContact(row.contact);
}

export async function listContacts(db: Db, customerId: string, viewer: Viewer) {
  await requireVisibleCustomer(db, customerId, viewer);
  const rows = await db
    .select()
    .from(customerContacts)
    .where(eq(customerContacts.customerId, customerId))
    .orderBy(asc(customerContacts.role), asc(customerContacts.name), asc(customerContacts.id));
  return rows.map(toContact);
}

const audit = (tx: Db, actor: Actor, action: string, before: Contact | null, after: Contact | null, now: Date) =>
  appendAudit(tx, actor, { action, entityType: 'contact', entityId: (after ?? before)!.id, before, after }, now);

export async function createContact(db: Db, customerId: string, input: CreateContact, viewer: Viewer, actor: Actor, now: Date) {
  return db.transaction(async (tx) => {
    await requireVisibleCustomer(tx, customerId, viewer);
    const [row] = await tx
      .insert(customerContacts)
      .values({ customerId, ...input, email: input.email ?? null, phone: input.phone ?? null, createdAt: now, updatedAt: now })
      .returning();
    const contact = toContact(row!);
    await audit(tx, actor, 'contact.create', null, contact, now);
    return contact;
  });
}

export async function updateContact(db: Db, id: string, patch: PatchContact, expectedVersion: number | null, viewer: Viewer, actor: Actor, now: Date) {
  return db.transaction(async (tx) => {
    const current = await lockVisibleContact(tx, id, viewer);
    assertVersion(expectedVersion, current.version);
    const changes = Object.fromEntries(Object.entries(patch).filter(([k, v]) => v !== undefined && (current as Record<string, unknown>)[k] !== v));
    if (Object.keys(changes).length === 0) return toContact(current);
    const next = { ...current, ...changes };
    if (!next.email && !next.phone) throw validationError([{ path: 'body.email', message: 'a contact keeps an email or a phone number' }]);
    const [row] = await tx
      .update(customerContacts)
      .set({ ...changes, version: current.version + 1, updatedAt: now })
      .where(eq(customerContacts.id, id))
      .returning();
    const after = toContact(row!);
    await audit(tx, actor, 'contact.update', toContact(current), after, now);
    return after;
  });
}

export async function deleteContact(db: Db, id: string, viewer: Viewer, actor: Actor, now: Date) {
  return db.transaction(async (tx) => {
    const current = await lockVisibleContact(tx, id, viewer);
    await tx.delete(customerContacts).where(eq(customerContacts.id, id));
    const removed = toContact(current);
    await audit(tx, actor, 'contact.delete', removed, null, now);
    return removed;
  });
}

/** A technical contact the customer import brings (email in lower case). */
export interface ImportedContact {
  customerId: string;
  name: string;
  email: string;
  language: (typeof contactLanguages)[number];
}

/**
 * The customer import's contacts, many at once inside the import's transaction: each customer gets its
 * technical contact unless it has a contact with that email already (case-insensitive), so importing a
 * file again adds nothing. One statement per few thousand rows, audited as `contact.create` like
 * createContact. The caller has checked the customers (an import is an admin's). The contacts added.
 */
export async function addImportedContacts(tx: Db, rows: ImportedContact[], actor: Actor, now: Date): Promise<Contact[]> {
  // One per customer and email: NOT EXISTS below does not see rows of the same statement.
  const unique = [...new Map(rows.map((r) => [`${r.customerId} ${r.email.toLowerCase()}`, r])).values()];
  const added: Contact[] = [];
  for (const b of chunk(unique, 5000)) {
    const inserted = await tx.execute(sql`
      INSERT INTO customer_contacts (customer_id, name, email, role, language, created_at, updated_at)
      SELECT r.customer_id, r.name, r.email, 'technical', r.language, ${now}, ${now}
      FROM unnest(${col(b.map((r) => r.customerId))}::uuid[], ${col(b.map((r) => r.name))}::text[], ${col(b.map((r) => r.email))}::text[],
                  ${col(b.map((r) => r.language))}::text[]) AS r(customer_id, name, email, language)
      WHERE NOT EXISTS (SELECT 1 FROM customer_contacts c WHERE c.customer_id = r.customer_id AND lower(c.email) = lower(r.email))
      RETURNING id, customer_id, name, email, language, version`);
    for (const r of rowsOf<{ id: string; customer_id: string; name: string; email: string; language: Contact['language']; version: number }>(inserted)) {
      const at = now.toISOString();
      added.push({
        id: r.id,
        customerId: r.customer_id,
        name: r.name,
        email: r.email,
        phone: null,
        role: 'technical',
        language: r.language,
        version: r.version,
        createdAt: at,
        updatedAt: at,
      });
    }
  }
  await appendAudits(
    tx,
    actor,
    added.map((c) => ({ action: 'contact.create', entityType: 'contact', entityId: c.id, after: c })),
    now,
  );
  return added;
}

type EventRow = typeof contactEvents.$inferSelect;
const toContactEvent = (row: EventRow) => ({
  id: row.id,
  customerId: row.customerId,
  contactId: row.contactId,
  kind: row.kind,
  summary: row.summary,
  actor: row.actor,
  at: row.at.toISOString(),
});

/** The contact log of a customer, newest first. */
export async function listContactEvents(db: Db, customerId: string, viewer: Viewer, limit: number, cursor?: string) {
  await requireVisibleCustomer(db, customerId, viewer);
  const after = cursor ? decodeCursor(cursor, z.tuple([cursorInstant, z.uuid()])) : undefined;
  const rows = await db
    .select()
    .from(contactEvents)
    .where(
      and(
        eq(contactEvents.customerId, customerId),
        after ? sql`(${contactEvents.at}, ${contactEvents.id}) < (${after[0]}::timestamptz, ${after[1]}::uuid)` : undefined,
      ),
    )
    .orderBy(desc(contactEvents.at), desc(contactEvents.id))
    .limit(limit + 1);
  return toPage(rows, limit, toContactEvent, (r) => [r.at.toISOString(), r.id]);
}

/** Clocks differ a little; a contact logged further ahead than this is a typo. */
const FUTURE_SLACK_MS = 5 * 60_000;

/**
 * Logs a call, email, meeting or note. Contact with the customer (anything but a note) moves a
 * not_contacted customer to contacted, through the workflow, in the same transaction: the log and the
 * status never disagree.
 */
export async function logContactEvent(db: Db, customerId: string, input: ContactEventInput, viewer: Viewer & { role: Role }, actor: Actor, now: Date) {
  const at = input.at ? new Date(input.at) : now;
  if (at.getTime() > now.getTime() + FUTURE_SLACK_MS) throw validationError([{ path: 'body.at', message: 'is in the future' }]);
  return db.transaction(async (tx) => {
    await requireVisibleCustomer(tx, customerId, viewer);
    if (input.contactId) {
      const [contact] = await tx.select({ customerId: customerContacts.customerId }).from(customerContacts).where(eq(customerContacts.id, input.contactId));
      if (contact?.customerId !== customerId) throw validationError([{ path: 'body.contactId', message: 'is not a contact of this customer' }]);
    }
    const [row] = await tx
      .insert(contactEvents)
      .values({ customerId, contactId: input.contactId ?? null, kind: input.kind, summary: input.summary, actor: actor.name, at, createdAt: now })
      .returning();
    const event = toContactEvent(row!);
    await appendAudit(tx, actor, { action: 'contact.event_logged', entityType: 'contact', entityId: event.id, after: event }, now);
    const [customer] = await tx.select({ status: customers.status }).from(customers).where(eq(customers.id, customerId));
    if (input.kind !== 'note' && customer!.status === 'not_contacted') {
      await transitionCustomer(tx, customerId, { to: 'contacted', note: excerpt(`${input.kind}: ${input.summary}`, 1999) }, null, viewer, actor, now);
    }
    return event;
  });
}
