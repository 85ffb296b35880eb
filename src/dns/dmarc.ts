import type { DnsLookup } from './resolver.ts';
import { normalizeName } from './spf/worlds.ts';

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

export interface DmarcFinding {
  /** The record whose policy applies, raw. */
  record: string | null;
  /** Where that record was found (`_dmarc.` + this name). */
  policyDomain: string | null;
  /** The effective policy for the author domain: p, or inherited sp/np, after t=y. null: no DMARC. */
  policy: DmarcPolicy | null;
  orgDomain: string;
  /** pct, rf, ri: removed by RFC 9989; reported when a record still has them. */
  deprecatedTags: string[];
  testMode: boolean;
  /** Names queried, in order (at most 8). */
  queried: string[];
  error?: string;
}

const POLICIES = ['none', 'quarantine', 'reject'] as const;
const DEPRECATED = ['pct', 'rf', 'ri'];
const VERSION = /^[vV][ \t]*=[ \t]*DMARC1[ \t]*(;|$)/;

export type DmarcTags = Map<string, string>;

/** Tag list of a DMARC record (`v=DMARC1; p=reject; …`); tag names are case-insensitive. */
export function parseDmarcTags(record: string): DmarcTags {
  const tags: DmarcTags = new Map();
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (name && !tags.has(name)) tags.set(name, part.slice(eq + 1).trim());
  }
  return tags;
}

const asPolicy = (value: string | undefined): DmarcPolicy | undefined =>
  (POLICIES as readonly string[]).includes(value?.toLowerCase() ?? '') ? (value!.toLowerCase() as DmarcPolicy) : undefined;

/**
 * The names the RFC 9989 DNS Tree Walk queries (section 4.10): the author domain; then, with 8 or more
 * labels, the last 7; then one label fewer at a time down to the TLD; at most 8 names.
 */
export function treeWalkNames(authorDomain: string): string[] {
  const labels = normalizeName(authorDomain).split('.');
  const names = [labels.join('.')];
  let n = labels.length >= 8 ? 7 : labels.length - 1;
  while (n >= 1 && names.length < 8) {
    names.push(labels.slice(-n).join('.'));
    n--;
  }
  return names;
}

/**
 * DMARC policy discovery by RFC 9989 (no Public Suffix List): walk the tree, stop early at a record
 * with psd=y or psd=n, take the first record found as the policy record, and derive the
 * organizational domain from the records found. `authorExists` picks np over sp (NXDOMAIN author).
 */
export async function discoverDmarc(authorDomain: string, dns: DnsLookup, authorExists: boolean): Promise<DmarcFinding> {
  const author = normalizeName(authorDomain);
  const found: { name: string; record: string; tags: DmarcTags }[] = [];
  const queried: string[] = [];
  for (const name of treeWalkNames(author)) {
    queried.push(name);
    const answer = await dns.query('TXT', `_dmarc.${name}`);
    if (answer.status === 'error') {
      return {
        record: null,
        policyDomain: null,
        policy: null,
        orgDomain: author,
        deprecatedTags: [],
        testMode: false,
        queried,
        error: `TXT _dmarc.${name}: DNS ${answer.error}`,
      };
    }
    const valid = answer.status === 'ok' ? answer.records.map((r) => r.join('')).filter((t) => VERSION.test(t)) : [];
    // More than one valid record at a name counts as none there.
    if (valid.length !== 1) continue;
    const tags = parseDmarcTags(valid[0]!);
    found.push({ name, record: valid[0]!, tags });
    const psd = tags.get('psd')?.toLowerCase();
    if (psd === 'y' || psd === 'n') break;
  }

  const orgDomain = organizationalDomain(author, found);
  const policyRecord = found[0];
  if (!policyRecord) return { record: null, policyDomain: null, policy: null, orgDomain, deprecatedTags: [], testMode: false, queried };

  const { tags } = policyRecord;
  const p = asPolicy(tags.get('p')) ?? (tags.get('rua') ? 'none' : undefined);
  const own = policyRecord.name === author;
  let policy: DmarcPolicy | undefined;
  if (p === undefined) policy = undefined;
  else if (own) policy = p;
  else if (!authorExists) policy = asPolicy(tags.get('np')) ?? asPolicy(tags.get('sp')) ?? p;
  else policy = asPolicy(tags.get('sp')) ?? p;
  const testMode = tags.get('t')?.toLowerCase() === 'y';
  // Test mode applies the policy one level lower.
  if (policy && testMode) policy = policy === 'reject' ? 'quarantine' : 'none';
  return {
    record: policyRecord.record,
    policyDomain: policyRecord.name,
    policy: policy ?? null,
    orgDomain,
    deprecatedTags: DEPRECATED.filter((t) => tags.has(t)),
    testMode,
    queried,
  };
}

/** RFC 9989 section 4.10.2, over the records the walk found (longest name first). */
function organizationalDomain(author: string, found: { name: string; tags: DmarcTags }[]): string {
  for (const f of found) {
    const psd = f.tags.get('psd')?.toLowerCase();
    if (psd === 'n') return f.name;
    if (psd === 'y' && f.name !== author) {
      const labels = author.split('.');
      return labels.slice(-(f.name.split('.').length + 1)).join('.');
    }
  }
  if (found.length === 0) return author;
  return found.reduce((a, b) => (b.name.split('.').length < a.name.split('.').length ? b : a)).name;
}
