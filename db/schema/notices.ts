import { pgTable, primaryKey, text, timestamp, uuid, customType } from 'drizzle-orm/pg-core';
import { programs } from './programs.ts';

/**
 * A program's own wording of the outreach notice, per language; a language without a row uses the
 * shipped default. Templates may use only the known placeholders (src/outreach/notice-templates.ts).
 */
export const noticeTemplates = pgTable(
  'notice_templates',
  {
    programId: uuid('program_id')
      .notNull()
      .references(() => programs.id, { onDelete: 'restrict' }),
    language: text('language', { enum: ['ja', 'en'] }).notNull(),
    subject: text('subject').notNull(),
    body: text('body').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull(),
    updatedBy: text('updated_by').notNull(),
  },
  (t) => [primaryKey({ columns: [t.programId, t.language] })],
);

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

/**
 * Keys the service makes for itself when none is configured: `links` signs self-check tokens (a
 * token is an HMAC of its link's id, so a notice can carry the URL again; only the token's hash is
 * kept with the link). Set LINK_SECRET in production so a copy of the database cannot rebuild links.
 */
export const serviceKeys = pgTable('service_keys', {
  name: text('name').primaryKey(),
  key: bytea('key').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});
