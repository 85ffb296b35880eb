import { Resolver } from 'node:dns/promises';
import { DnsClient } from './dns-client.ts';

/**
 * What one DNS question got. An error is never the same as "no record". `aliases`: the CNAME chain
 * the answer came through, the names after the one asked, in order (absent: no alias, where the
 * lookup `reportsAliases`).
 */
export type DnsOutcome<T> =
  | { status: 'ok'; records: T[]; aliases?: string[] }
  | { status: 'nxdomain'; aliases?: string[] }
  | { status: 'nodata'; aliases?: string[] }
  | { status: 'error'; error: 'timeout' | 'servfail' | 'refused' | 'badname' | 'other'; message: string };

export interface MxRecord {
  exchange: string;
  priority: number;
}

export type RecordType = 'TXT' | 'A' | 'AAAA' | 'MX' | 'PTR' | 'CNAME';
type RecordOf<T extends RecordType> = T extends 'TXT' ? string[] : T extends 'MX' ? MxRecord : string;

/** The DNS questions the engine asks. TXT answers keep each record's strings apart. */
export interface DnsLookup {
  query<T extends RecordType>(type: T, name: string): Promise<DnsOutcome<RecordOf<T>>>;
  /** Which servers answer, for evidence. */
  readonly description: string;
  /** Set by a shared cache: how long its answers are reused (what is built from them may be kept as long). */
  readonly ttlMs?: number;
  /** Its answers carry their CNAME chain (`aliases`), so no CNAME question is needed to see one. */
  readonly reportsAliases?: boolean;
}

/** The usual case, checked at once: ASCII labels of 1 to 63 characters. */
const HOST_NAME = /^[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*\.?$/i;

/** Labels of 1 to 63 octets, 253 in all: what DNS itself allows, whatever the characters. */
function isLegalDnsName(name: string) {
  if (name.length <= 253 && HOST_NAME.test(name)) return true;
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length === 0 || Buffer.byteLength(n) > 253) return false;
  return n.split('.').every((label) => label.length > 0 && Buffer.byteLength(label) <= 63);
}

export interface ResolverOptions {
  /** `host[:port]` list; unset: the system's resolvers. */
  servers?: string[] | undefined;
  timeoutMs?: number;
  tries?: number;
}

/** The production resolver (see DnsClient): a per-query timeout, a number of tries, the CNAME chain of each answer. */
export function createResolver(options: ResolverOptions = {}): DnsLookup {
  // node's resolver reads the system's configuration (resolv.conf); only its server list is used.
  const servers = options.servers?.length ? options.servers : new Resolver().getServers();
  const client = new DnsClient({ servers, timeoutMs: options.timeoutMs ?? 2000, tries: options.tries ?? 2 });
  return {
    description: servers.join(','),
    reportsAliases: true,
    query(type, name) {
      if (!isLegalDnsName(name))
        return Promise.resolve({ status: 'error', error: 'badname', message: `EBADNAME: ${type} ${JSON.stringify(name)} is not a DNS name` });
      return client.query(type, name) as never;
    },
  };
}

export interface CacheStats {
  hits: number;
  misses: number;
}

/**
 * A cache shared by every domain of one sweep: bounded, short-lived, and de-duplicating questions in
 * flight, so records that many customers include are fetched once. Errors are not kept: the next
 * asker tries again.
 */
export function createCachedLookup(inner: DnsLookup, options: { maxEntries?: number; ttlMs?: number } = {}): DnsLookup & { stats: CacheStats } {
  const maxEntries = options.maxEntries ?? 50_000;
  const ttlMs = options.ttlMs ?? 60_000;
  const entries = new Map<string, { expires: number; answer: Promise<DnsOutcome<unknown>> }>();
  const stats: CacheStats = { hits: 0, misses: 0 };
  return {
    description: inner.description,
    reportsAliases: inner.reportsAliases === true,
    stats,
    ttlMs,
    query(type, name) {
      const key = `${type} ${name.toLowerCase()}`;
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.expires > now) {
        stats.hits++;
        return hit.answer as never;
      }
      stats.misses++;
      const answer = inner.query(type, name);
      entries.delete(key);
      entries.set(key, { expires: now + ttlMs, answer });
      // Map keeps insertion order: the first key is the oldest.
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
      void answer.then((a) => {
        if (a.status === 'error' && entries.get(key)?.answer === answer) entries.delete(key);
      });
      return answer as never;
    },
  };
}

const budgetSpent = { status: 'error', error: 'timeout', message: 'the time budget of this check is spent' } as const;

/**
 * Every question after `deadline` (ms since epoch) fails as a timeout: the overall budget of one
 * check. One timer serves every question (most are answered from the sweep's cache); `close()`
 * clears it once the check is done.
 */
export function withDeadline(inner: DnsLookup, deadline: number): DnsLookup & { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let spent: Promise<DnsOutcome<never>> | undefined;
  const whenSpent = () =>
    (spent ??= new Promise((resolve) => {
      timer = setTimeout(() => resolve(budgetSpent), Math.max(0, deadline - Date.now()));
    }));
  return {
    description: inner.description,
    reportsAliases: inner.reportsAliases === true,
    query(type, name) {
      if (deadline <= Date.now()) return Promise.resolve(budgetSpent);
      return Promise.race([inner.query(type, name), whenSpent()]);
    },
    close: () => clearTimeout(timer),
  };
}

/** At most `qps` questions a second leave this process (a courtesy to the resolvers asked). */
export function withRateLimit(inner: DnsLookup, qps: number): DnsLookup {
  const gap = 1000 / qps;
  let nextAt = 0;
  return {
    description: inner.description,
    reportsAliases: inner.reportsAliases === true,
    async query(type, name) {
      const now = Date.now();
      const at = Math.max(now, nextAt);
      nextAt = at + gap;
      if (at > now) await new Promise((r) => setTimeout(r, at - now));
      return inner.query(type, name);
    },
  };
}
