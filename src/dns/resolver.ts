import { Resolver } from 'node:dns/promises';
import { rawQuery } from './raw-query.ts';

/** What one DNS question got. An error is never the same as "no record". */
export type DnsOutcome<T> =
  | { status: 'ok'; records: T[] }
  | { status: 'nxdomain' }
  | { status: 'nodata' }
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
}

const errorKinds: Record<string, Extract<DnsOutcome<never>, { status: 'error' }>['error']> = {
  ETIMEOUT: 'timeout',
  ESERVFAIL: 'servfail',
  EREFUSED: 'refused',
  EBADNAME: 'badname',
  EBADQUERY: 'badname',
};

function toOutcome(err: unknown): DnsOutcome<never> {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ENOTFOUND') return { status: 'nxdomain' };
  if (code === 'ENODATA') return { status: 'nodata' };
  return { status: 'error', error: errorKinds[code] ?? 'other', message: `${code || 'error'}: ${(err as Error).message}` };
}

/** Labels of 1 to 63 octets, 253 in all: what DNS itself allows, whatever the characters. */
function isLegalDnsName(name: string) {
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

/** The production resolver: node's c-ares resolver with a per-query timeout and a number of tries. */
export function createResolver(options: ResolverOptions = {}): DnsLookup {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 2 });
  if (options.servers?.length) resolver.setServers(options.servers);
  const ask = (type: RecordType, name: string): Promise<unknown[]> => {
    switch (type) {
      case 'TXT':
        return resolver.resolveTxt(name);
      case 'A':
        return resolver.resolve4(name);
      case 'AAAA':
        return resolver.resolve6(name);
      case 'MX':
        return resolver.resolveMx(name);
      case 'PTR':
        return resolver.resolvePtr(name);
      case 'CNAME':
        return resolver.resolveCname(name);
    }
  };
  const timing = { timeoutMs: options.timeoutMs ?? 2000, tries: options.tries ?? 2 };
  return {
    description: resolver.getServers().join(','),
    async query(type, name) {
      try {
        const records = await ask(type, name);
        return (records.length === 0 ? { status: 'nodata' } : { status: 'ok', records }) as never;
      } catch (err) {
        const outcome = toOutcome(err);
        // c-ares only sends host names; a legal DNS name with other octets goes out raw.
        if (outcome.status === 'error' && outcome.error === 'badname' && isLegalDnsName(name)) {
          return (await rawQuery(resolver.getServers(), type, name, timing)) as never;
        }
        return outcome;
      }
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
    async query(type, name) {
      const now = Date.now();
      const at = Math.max(now, nextAt);
      nextAt = at + gap;
      if (at > now) await new Promise((r) => setTimeout(r, at - now));
      return inner.query(type, name);
    },
  };
}
