import { contactLanguages, customerStatuses, type CustomerStatus } from '../../db/schema/enums.ts';
import { normalizeDnsName } from '../dns/dns-name.ts';
import { invisibleCharacterIn, normalizeReference } from '../lib/lookalikes.ts';
import { excerpt, unstorable } from '../lib/storable-text.ts';
import { importColumns, type Column, type ImportError } from './import-schemas.ts';

/*
 * A row of the customer list, read and checked on its own. Nothing here looks at other rows or at the
 * database: import-service.ts does that, a batch at a time.
 */

const requiredColumns: Column[] = ['external_ref', 'customer_name', 'sales_owner_email'];

export interface Row {
  line: number;
  externalRef: string;
  name: string;
  email: string;
  ownerName?: string;
  department?: string;
  /** The sales owner's manager: another sales owner, by email. */
  managerEmail?: string;
  status?: CustomerStatus;
  plannedMigrationAt?: string;
  domains: { ascii: string; unicode: string }[];
  /** A technical contact for the customer (email in lower case), added unless it has one with that email. */
  contact?: { name: string; email: string; language: (typeof contactLanguages)[number] };
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const initialStatuses = customerStatuses.filter((s) => s !== 'on_hold' && s !== 'completed');

/** `2022-09-30`, `2022/9/30` (what Excel writes in Japan) → `2022-09-30`; undefined when not a real date. */
export function parseCsvDate(value: string): string | undefined {
  const m = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$/.exec(value);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  return date.toISOString().slice(0, 10);
}

/** Validates one record; every problem is reported with its column. */
export function parseRow(line: number, fields: string[], index: Map<Column, number>, problems: ImportError[]): Row | undefined {
  const cell = (c: Column) => (index.has(c) ? (fields[index.get(c)!] ?? '').trim() : '');
  const fail = (column: Column | null, message: string) => problems.push({ line, column, message });
  const before = problems.length;
  if (fields.length > index.size) fail(null, `has ${fields.length} fields; the header has ${index.size}`);
  // Text PostgreSQL cannot store is found here, by the dry run too, not by the write.
  for (const [column, at] of index) {
    const why = unstorable(fields[at] ?? '');
    if (why) fail(column, why);
  }
  if (problems.length > before) return undefined;
  const rawRef = cell('external_ref');
  // One spelling per reference (NFKC), and none with an invisible character: see src/lib/lookalikes.ts.
  const externalRef = normalizeReference(rawRef);
  const invisible = invisibleCharacterIn(rawRef);
  const name = cell('customer_name');
  const email = cell('sales_owner_email').toLowerCase();
  if (invisible) fail('external_ref', invisible);
  else if (!externalRef) fail('external_ref', 'is empty');
  else if (externalRef.length > 200) fail('external_ref', 'is longer than 200 characters');
  if (!name) fail('customer_name', 'is empty');
  else if (name.length > 300) fail('customer_name', 'is longer than 300 characters');
  if (!EMAIL.test(email) || email.length > 254) fail('sales_owner_email', `"${excerpt(email, 80)}" is not an email address`);
  const status = cell('status');
  if (status && !(customerStatuses as readonly string[]).includes(status)) {
    fail('status', `"${excerpt(status, 40)}" is not a status (one of ${customerStatuses.join(', ')})`);
  }
  const plannedRaw = cell('planned_migration_at');
  const planned = plannedRaw ? parseCsvDate(plannedRaw) : undefined;
  if (plannedRaw && !planned) fail('planned_migration_at', `"${excerpt(plannedRaw, 40)}" is not a date (YYYY-MM-DD or YYYY/MM/DD)`);
  const domainList: Row['domains'] = [];
  for (const raw of cell('domains')
    .split(/[\s;]+/)
    .filter(Boolean)) {
    const normalized = normalizeDnsName(raw);
    if (!normalized.ok) fail('domains', `"${excerpt(raw, 80)}" ${normalized.reason}`);
    else if (!domainList.some((d) => d.ascii === normalized.ascii)) domainList.push({ ascii: normalized.ascii, unicode: normalized.unicode });
  }
  const managerEmail = cell('manager_email').toLowerCase();
  if (managerEmail && (!EMAIL.test(managerEmail) || managerEmail.length > 254)) fail('manager_email', `"${excerpt(managerEmail, 80)}" is not an email address`);
  else if (managerEmail && managerEmail === email) fail('manager_email', 'is the sales owner\u2019s own email: an owner cannot be their own manager');
  const ownerName = cell('sales_owner_name');
  const department = cell('department');
  if (ownerName.length > 200) fail('sales_owner_name', 'is longer than 200 characters');
  if (department.length > 100) fail('department', 'is longer than 100 characters');
  const contact = parseContact(cell('contact_name'), cell('contact_email').toLowerCase(), cell('contact_language').toLowerCase(), fail);
  if (problems.length > before) return undefined;
  return {
    line,
    externalRef,
    name,
    email,
    ...(ownerName ? { ownerName } : {}),
    ...(department ? { department } : {}),
    ...(managerEmail ? { managerEmail } : {}),
    ...(status ? { status: status as CustomerStatus } : {}),
    ...(planned ? { plannedMigrationAt: planned } : {}),
    domains: domainList,
    ...(contact ? { contact } : {}),
  };
}

/**
 * The row's contact, or undefined when its three cells are empty. A contact needs a name, and an email
 * (the file has no phone column, and a contact keeps an email or a phone); the language defaults to ja.
 */
function parseContact(name: string, email: string, language: string, fail: (column: Column, message: string) => void): Row['contact'] {
  if (!name && !email && !language) return undefined;
  let ok = true;
  const problem = (column: Column, message: string) => {
    ok = false;
    fail(column, message);
  };
  if (!name) problem('contact_name', `is empty; a contact given by ${email ? 'contact_email' : 'contact_language'} needs a name`);
  else if (name.length > 200) problem('contact_name', 'is longer than 200 characters');
  if (!email) problem('contact_email', 'is empty; a contact needs an email address');
  else if (!EMAIL.test(email) || email.length > 254) problem('contact_email', `"${excerpt(email, 80)}" is not an email address`);
  const known = contactLanguages.find((l) => l === (language || 'ja'));
  if (!known) problem('contact_language', `"${excerpt(language, 40)}" is not a language (one of ${contactLanguages.join(', ')})`);
  return ok && known ? { name, email, language: known } : undefined;
}

/** The header's columns by position; undefined (with the problems recorded) when it is unusable. */
export function readHeader(fields: string[], problems: ImportError[]): Map<Column, number> | undefined {
  const index = new Map<Column, number>();
  fields.forEach((raw, i) => {
    const name = raw.trim().toLowerCase();
    if ((importColumns as readonly string[]).includes(name)) {
      if (index.has(name as Column)) problems.push({ line: 1, column: name as Column, message: 'appears twice in the header' });
      index.set(name as Column, i);
    } else if (name) {
      problems.push({ line: 1, column: null, message: `unknown column "${excerpt(raw, 40)}" (expected ${importColumns.join(', ')})` });
    }
  });
  const missing = requiredColumns.filter((c) => !index.has(c));
  for (const column of missing) problems.push({ line: 1, column, message: 'is missing from the header' });
  return problems.some((p) => p.line === 1) ? undefined : index;
}
