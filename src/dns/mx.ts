import type { DnsLookup } from './resolver.ts';
import { isUnder, normalizeName } from './spf/worlds.ts';

export type MxState = 'legacy' | 'successor' | 'mixed' | 'other' | 'none' | 'nxdomain' | 'error';
export type MxSide = 'legacy' | 'successor' | 'other';

export interface MxFinding {
  state: MxState;
  hosts: { exchange: string; priority: number; side: MxSide }[];
  error?: string;
}

/**
 * Where a domain's mail goes, relative to the program (DOMAIN.md "MX"): a host is on a side when it
 * equals one of that side's suffixes or ends with "." + suffix. An error is never a verdict.
 */
export async function classifyMx(domain: string, dns: DnsLookup, legacySuffixes: string[], successorSuffixes: string[]): Promise<MxFinding> {
  const answer = await dns.query('MX', domain);
  if (answer.status === 'error') return { state: 'error', hosts: [], error: `MX lookup failed (${answer.error})` };
  if (answer.status === 'nxdomain') return { state: 'nxdomain', hosts: [] };
  // A null MX (RFC 7505, "0 .") says the domain takes no mail at all.
  const records = answer.status === 'ok' ? answer.records.filter((r) => normalizeName(r.exchange) !== '') : [];
  if (records.length === 0) return { state: 'none', hosts: [] };
  const legacy = legacySuffixes.map(normalizeName);
  const successor = successorSuffixes.map(normalizeName);
  const hosts = records
    .map((r) => {
      const exchange = normalizeName(r.exchange);
      const side: MxSide = isUnder(exchange, legacy) ? 'legacy' : isUnder(exchange, successor) ? 'successor' : 'other';
      return { exchange, priority: r.priority, side };
    })
    .sort((a, b) => a.priority - b.priority || a.exchange.localeCompare(b.exchange));
  const legacyCount = hosts.filter((h) => h.side === 'legacy').length;
  const state: MxState =
    legacyCount === hosts.length ? 'legacy' : legacyCount > 0 ? 'mixed' : hosts.every((h) => h.side === 'successor') ? 'successor' : 'other';
  return { state, hosts };
}
