import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSource, root, sourceFiles } from './helpers/source-files.ts';

/**
 * One writer per table: a customer's status, version and status events, and a task's assignment and
 * state, change only through their owner module, so every path (API, import, DNS auto-progress,
 * handover, jobs) gets the same version check, status event, audit and task closing. This reads the
 * source for every statement that writes each table, through drizzle or in SQL, and expects to find
 * them in the owner and nowhere else (the owner itself writes, which proves the patterns match).
 */
const owners: Record<string, { drizzle: string; sql: string; owner: string }> = {
  customers: { drizzle: 'customers', sql: 'customers', owner: 'src/customer-status/customer-writer.ts' },
  status_events: { drizzle: 'statusEvents', sql: 'status_events', owner: 'src/customer-status/customer-writer.ts' },
  tasks: { drizzle: 'tasks', sql: 'tasks', owner: 'src/tasks/task-service.ts' },
  imports: { drizzle: 'imports', sql: 'imports', owner: 'src/imports/import-service.ts' },
  import_rows: { drizzle: 'importRows', sql: 'import_rows', owner: 'src/imports/import-service.ts' },
  import_chunks: { drizzle: 'importChunks', sql: 'import_chunks', owner: 'src/imports/import-service.ts' },
  dns_checks: { drizzle: 'dnsChecks', sql: 'dns_checks', owner: 'src/probes/check-repository.ts' },
  outbox: { drizzle: 'outbox', sql: 'outbox', owner: 'src/outbox/outbox-repository.ts' },
  customer_contacts: { drizzle: 'customerContacts', sql: 'customer_contacts', owner: 'src/contacts/contact-service.ts' },
  contact_events: { drizzle: 'contactEvents', sql: 'contact_events', owner: 'src/contacts/contact-service.ts' },
  self_check_links: { drizzle: 'selfCheckLinks', sql: 'self_check_links', owner: 'src/outreach/self-check-service.ts' },
  notice_templates: { drizzle: 'noticeTemplates', sql: 'notice_templates', owner: 'src/outreach/notice-service.ts' },
  service_keys: { drizzle: 'serviceKeys', sql: 'service_keys', owner: 'src/outreach/link-key.ts' },
  dashboard_sessions: { drizzle: 'dashboardSessions', sql: 'dashboard_sessions', owner: 'src/sessions/session-service.ts' },
};

function writersOf(table: { drizzle: string; sql: string }) {
  const patterns = [
    new RegExp(`\\.(insert|update|delete)\\(\\s*${table.drizzle}\\s*\\)`),
    new RegExp(`\\b(INSERT\\s+INTO|UPDATE|DELETE\\s+FROM|TRUNCATE)\\s+(${table.sql}|\\$\\{${table.drizzle}\\})\\b`, 'i'),
  ];
  return ['src', 'jobs', 'db']
    .flatMap((dir) => sourceFiles(dir))
    .filter((file) => patterns.some((p) => p.test(readSource(file))))
    .map((file) => relative(root, join(root, file)));
}

describe('one writer per table', () => {
  for (const [name, table] of Object.entries(owners)) {
    it(`only ${table.owner} writes ${name}`, () => {
      expect(writersOf(table)).toEqual([table.owner]);
    });
  }
});

/**
 * A writer locks the rows it is about to change FOR NO KEY UPDATE, never FOR UPDATE: none of them
 * changes a key, and FOR UPDATE also blocks the FOR KEY SHARE lock every foreign-key check takes on the
 * referenced row. A handover holding its two owners FOR UPDATE deadlocked with a transition to a final
 * status (its resolved_at trigger re-checks the customer's owner key), a 500 that
 * test/interleavings.test.ts found.
 */
describe('row locks', () => {
  it('are FOR NO KEY UPDATE (or weaker) everywhere', () => {
    const strong = [/\.for\(\s*'update'/, /\bFOR\s+UPDATE\b/i];
    const files = ['src', 'jobs', 'db'].flatMap((dir) => sourceFiles(dir)).filter((file) => strong.some((p) => p.test(readSource(file))));
    expect(files).toEqual([]);
  });
});
