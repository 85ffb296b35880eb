import { inNetwork, parseIp, type ParsedIp } from '../ip.ts';
import type { DnsLookup, RecordType } from '../resolver.ts';
import { checkHost, lookupSpfRecord, type CheckHostResult, type SpfResult } from './check-host.ts';
import { normalizeName } from './worlds.ts';

/**
 * Who is asking, in the evaluations behind a verdict (RFC 7208 §4.6.2: the first match wins, so the
 * answer depends on the client): a stranger that matches nothing, over IPv4 and IPv6; a server of
 * the successor service; a server of the legacy service.
 */
export type ClientClass = 'stranger' | 'stranger_ipv6' | 'successor' | 'legacy';

export interface Client {
  class: ClientClass;
  ip: string;
  sender: string;
  helo: string;
}

/** Candidate stranger addresses: documentation and reserved ranges first (RFC 5737, 3849, 9637). */
const STRANGER_V4 = [
  '192.0.2.1',
  '198.51.100.1',
  '233.252.0.1',
  '100.64.0.1',
  '240.0.0.1',
  '203.0.113.1',
  '10.255.255.254',
  '172.31.255.254',
  '169.254.255.254',
  '127.255.255.254',
];
const STRANGER_V6 = ['2001:db8::1', '2001:db8:ffff:ffff::1', '3fff::1', '100::1', 'fd00::1', 'fe80::1', '2002::1', '::ffff:0:1'];
const STRANGER_CANDIDATES = { 4: STRANGER_V4.map((ip) => parseIp(ip)!), 6: STRANGER_V6.map((ip) => parseIp(ip)!) };
const STRANGER_LOCALS = ['spf-stranger', 'spf-stranger-2', 'nobody-x7q', 'probe-k2m', 'z9-none', 'unknown-sender', 'q-0', 'mdt-check'];
const STRANGER_HELO = 'stranger.invalid';

/** How much a stranger's result protects the domain, worst first (a breakage ranks above a weak policy). */
const STRANGER_ORDER: SpfResult[] = ['permerror', 'temperror', 'none', 'pass', 'neutral', 'softfail', 'fail'];

/** The worst of several results for a stranger. */
export const worstForStranger = (results: SpfResult[]): SpfResult =>
  results.reduce((worst, r) => (STRANGER_ORDER.indexOf(r) < STRANGER_ORDER.indexOf(worst) ? r : worst), 'fail');

/** How strongly a result turns a stranger away: fail 3, softfail 2, neutral/none 1, pass 0; errors -1. */
export function strength(result: SpfResult): number {
  return { fail: 3, softfail: 2, neutral: 1, none: 1, pass: 0, permerror: -1, temperror: -1 }[result];
}

export interface StrangerSearch {
  client: Client;
  result: Evaluated;
  /** The stranger still matched a term that depends on the client: no candidate avoided every term. */
  matched: boolean;
  /** The deciding term matches every client (`+all` aside), e.g. an include of `+all` or `ip4:0.0.0.0/0`. */
  everyClient: boolean;
}

/**
 * A client of the given family that no term of the domain's SPF matches: each candidate is
 * evaluated (today's world), and one that matched a client-dependent term (an ip4 range, an A
 * record, `exists:%{l}…`) is replaced by one outside every network seen so far with another local
 * part. A term that matches every client cannot be avoided: the search says so.
 */
export async function findStranger(domain: string, dns: DnsLookup, family: 4 | 6, now: Date, reuse?: Reuse): Promise<StrangerSearch> {
  const candidates = STRANGER_CANDIDATES[family];
  const avoid: { network: ParsedIp; prefix: number }[] = [];
  const tried = new Set<string>();
  let last: StrangerSearch | undefined;
  for (let attempt = 0; attempt < STRANGER_LOCALS.length; attempt++) {
    const ip = candidates.find((c) => !tried.has(c.text) && !avoid.some((a) => inNetwork(c, a.network, a.prefix)));
    if (!ip) break;
    tried.add(ip.text);
    const client: Client = {
      class: family === 4 ? 'stranger' : 'stranger_ipv6',
      ip: ip.text,
      sender: `${STRANGER_LOCALS[attempt]}@${domain}`,
      helo: STRANGER_HELO,
    };
    const result = await evaluate(client, domain, dns, now, reuse);
    const decided = result.decidedBy;
    const everyClient = decided !== undefined && decided.kind !== 'all' && decided.everyClient;
    last = { client, result, matched: decided !== undefined && !decided.everyClient, everyClient };
    if (!last.matched) return last;
    avoid.push(...(result.networks ?? []));
  }
  return last!;
}

/** Terms whose evaluation is the same for an IPv4 and an IPv6 client that match nothing. */
const FAMILY_BLIND = /^[+\-~?]?(include:|exists:|redirect=|all$|ip4:|ip6:)/i;

/**
 * Whether an IPv6 stranger would be evaluated exactly as this IPv4 one was: every term it met
 * asks the same questions of either family (no a, mx or ptr, no macro of the client's address,
 * no /0 network that matches one family whole), and nothing client-dependent matched.
 */
export function familyBlind(search: StrangerSearch): boolean {
  return !search.matched && sameForBothFamilies(search.result);
}

/** Every term the evaluation met asks the same questions, and matches the same way, for either family. */
export function sameForBothFamilies(result: CheckHostResult): boolean {
  return (result.trace ?? []).every((s) => FAMILY_BLIND.test(s.term) && !/%\{[icvp]/i.test(s.term) && !/\/0$/.test(s.term));
}

/** The IPv6 stranger of a family-blind record: the same evaluation, shown for the first IPv6 candidate. */
export function asIpv6(search: StrangerSearch): StrangerSearch {
  return { ...search, client: { ...search.client, class: 'stranger_ipv6', ip: STRANGER_V6[0]! } };
}

/** A traced evaluation with the questions that got an answer, in the order they were asked. */
export type Evaluated = CheckHostResult & { answered: { type: RecordType; name: string }[] };

/** Which record an evaluation starts from, in which world: what makes it reusable for another domain. */
export interface Reuse {
  cache: EvaluationCache;
  /** `today`, or the deleted world of the legacy names given (another program deletes other names). */
  world: string;
  record: string;
}

const IMPLICIT_DOMAIN = /^[+\-~?]?(a|mx|ptr)(\/|$)/i;

/**
 * Evaluations kept across the domains of a sweep, for as long as the sweep's DNS cache keeps the
 * answers they are made of. Most customers of a hosted-mail service publish the provider's template
 * record, and an evaluation of the same record text for the same client asks the same questions, so
 * it ends the same — unless the domain itself shapes it: a macro (the sender, the HELO, the domain),
 * an a, mx or ptr term of the top record without a domain, or an exp=. Those are never kept, and
 * neither is a temperror.
 */
export class EvaluationCache {
  private entries = new Map<string, { expires: number; domain: string; value: Evaluated }>();
  private kept = new Map<string, { expires: number; domain: string; value: unknown }>();

  /** Anything else made only of the sweep's answers and a record text (a domain's whole SPF analysis), kept alike. */
  keep(key: string, domain: string, value: unknown) {
    if (this.kept.size >= this.maxEntries) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(key, { expires: Date.now() + this.ttlMs, domain, value });
  }

  /** What `keep` kept, moved onto `domain` by `rebaseTo` when another domain's. */
  recall<T>(key: string, domain: string, rebaseTo: (value: T, from: string, to: string) => T): T | undefined {
    const hit = this.kept.get(key);
    if (!hit || hit.expires <= Date.now()) return undefined;
    return hit.domain === domain ? (hit.value as T) : rebaseTo(hit.value as T, hit.domain, domain);
  }

  constructor(
    private ttlMs: number,
    private maxEntries = 10_000,
  ) {}

  get(key: string, domain: string): Evaluated | undefined {
    const hit = this.entries.get(key);
    if (!hit || hit.expires <= Date.now()) return undefined;
    return hit.domain === domain ? hit.value : rebase(hit.value, hit.domain, domain);
  }

  set(key: string, domain: string, record: string, value: Evaluated) {
    if (value.result === 'temperror' || /(^| )exp=/i.test(record)) return;
    if ((value.trace ?? []).some((s) => s.term.includes('%') || (s.path.length === 1 && IMPLICIT_DOMAIN.test(s.term)))) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    // Real time, as the DNS cache's answers expire in real time (a test's clock may stand still).
    this.entries.set(key, { expires: Date.now() + this.ttlMs, domain, value });
  }
}

/** A text about the top record names its domain first ("d.example: matched …", "d.example publishes …"). */
export const rebaseText = (text: string, from: string, to: string) =>
  text.startsWith(from) && (text[from.length] === ':' || text[from.length] === ' ') ? to + text.slice(from.length) : text;

/** A path from the checked domain down, moved onto another domain. */
export const rebasePath = (path: string[], from: string, to: string) => (path[0] === from ? [to, ...path.slice(1)] : path);

/** A record whose evaluation does not depend on the domain publishing it: no macro, no exp=, no a/mx/ptr of the domain itself. */
export const isTemplateRecord = (record: string) =>
  !record.includes('%') && !/(^| )exp=/i.test(record) && !record.split(' ').some((t) => IMPLICIT_DOMAIN.test(t));

/**
 * An evaluation of one domain's record as the same evaluation of another domain publishing the same
 * record. The record has no macro, so the domain shows only as the top of each path and at the start
 * of a reason about the top record ("d.example: matched …", "d.example publishes no SPF record").
 */
function rebase(e: Evaluated, from: string, to: string): Evaluated {
  const path = (p: string[]) => rebasePath(p, from, to);
  return {
    ...e,
    reason: rebaseText(e.reason, from, to),
    ...(e.decidedBy ? { decidedBy: { ...e.decidedBy, path: path(e.decidedBy.path) } } : {}),
    ...(e.trace ? { trace: e.trace.map((s) => ({ ...s, path: path(s.path) })) } : {}),
    answered: e.answered.map((q) => (q.name === from ? { ...q, name: to } : q)),
  };
}

/** check_host() for one client, traced; taken from (and kept in) the sweep's cache where `reuse` allows. */
export async function evaluate(client: Client, domain: string, dns: DnsLookup, now: Date, reuse?: Reuse): Promise<Evaluated> {
  const key = reuse && `${reuse.world} ${client.ip} ${reuse.record}`;
  const kept = key ? reuse.cache.get(key, domain) : undefined;
  if (kept) return kept;
  const evaluated = await evaluateNow(client, domain, dns, now);
  if (key) reuse.cache.set(key, domain, reuse.record, evaluated);
  return evaluated;
}

async function evaluateNow(client: Client, domain: string, dns: DnsLookup, now: Date): Promise<Evaluated> {
  const answered: Evaluated['answered'] = [];
  const logged: DnsLookup = {
    description: dns.description,
    reportsAliases: dns.reportsAliases === true,
    async query(type, name) {
      const answer = await dns.query(type, name);
      if (answer.status === 'ok') answered.push({ type, name: normalizeName(name) });
      return answer;
    },
  };
  const result = await checkHost(client.ip, domain, client.sender, { dns: logged, helo: client.helo, now, trace: true });
  return { ...result, answered };
}

/**
 * An address a service sends from, read from its SPF record (the first ip4, else ip6, network,
 * following includes and redirects a few levels down): the successor's servers, the legacy range.
 */
export async function sampleSender(dns: DnsLookup, includes: readonly string[], depth = 0): Promise<string | null> {
  for (const name of includes) {
    const found = await lookupSpfRecord(dns, name);
    if (found.status !== 'record') continue;
    const { mechanisms, redirect } = found.record;
    const network = mechanisms.find((m) => m.kind === 'ip4' && m.qualifier === '+') ?? mechanisms.find((m) => m.kind === 'ip6' && m.qualifier === '+');
    if (network) return firstAddress(network.network!, network.kind === 'ip4' ? network.cidr4! : network.cidr6!);
    if (depth < 3) {
      const deeper = [...mechanisms.filter((m) => m.kind === 'include' && m.qualifier === '+').map((m) => m.domainSpec!), ...(redirect ? [redirect] : [])];
      const found = await sampleSender(
        dns,
        deeper.filter((d) => !d.includes('%')),
        depth + 1,
      );
      if (found) return found;
    }
  }
  return null;
}

/** The first host address of a network (the network address itself for a /32 or /128). */
function firstAddress(network: string, prefix: number): string {
  const ip = parseIp(network)!;
  const bits = ip.version === 4 ? 32 : 128;
  if (prefix >= bits - 1) return ip.text;
  const value = ((ip.value >> BigInt(bits - prefix)) << BigInt(bits - prefix)) + 1n;
  if (ip.version === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  return value.toString(16).padStart(32, '0').match(/.{4}/g)!.join(':');
}

const caches = new WeakMap<DnsLookup, EvaluationCache>();

/** The evaluation cache that lives beside a shared DNS cache (none for a lookup that keeps no answers). */
export function evaluationCacheOf(dns: DnsLookup): EvaluationCache | undefined {
  if (!dns.ttlMs) return undefined;
  let cache = caches.get(dns);
  if (!cache) caches.set(dns, (cache = new EvaluationCache(dns.ttlMs)));
  return cache;
}
