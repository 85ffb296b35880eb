import { inNetwork, parseIp, reverseName, type ParsedIp } from '../ip.ts';
import type { DnsLookup, DnsOutcome } from '../resolver.ts';
import { expandMacros, type MacroContext } from './spf-macro.ts';
import { checkMacroString, isSpfRecord, parseSpfRecord, type Mechanism, type MechanismKind, type Qualifier, type SpfRecord } from './spf-record.ts';

export type SpfResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror';

/** The mechanism that decided a result, seen from the record checked. */
export interface Decision {
  path: string[];
  term: string;
  kind: MechanismKind;
  /** It matches every client (of this address family): `all`, `ip4:0.0.0.0/0`, `exists:%{d}`, an include decided so. */
  everyClient: boolean;
}

/** One term as an evaluation met it: where, what it asked, how it ended. */
export interface TraceStep {
  /** The records from the checked domain down to the one holding the term. */
  path: string[];
  term: string;
  /** include/redirect: the name whose record is evaluated next. */
  target?: string;
  outcome: 'match' | 'no match' | 'followed' | 'error';
  detail?: string;
}

export interface CheckHostResult {
  result: SpfResult;
  /** Why, in words: the matching term, the limit exceeded, the DNS failure. */
  reason: string;
  /** The `exp=` text of a fail, when the domain publishes one. */
  explanation?: string;
  lookups: number;
  voidLookups: number;
  decidedBy?: Decision;
  /** Every term evaluated, in order (only with `trace: true`). */
  trace?: TraceStep[];
  /** Networks the client was compared with: ip4/ip6 terms and the addresses of a/mx targets. */
  networks?: { network: ParsedIp; prefix: number }[];
}

export interface CheckHostOptions {
  dns: DnsLookup;
  helo?: string;
  /** `%{r}`; RFC 7208 says "unknown" when not known. */
  receiver?: string;
  now?: Date;
  /** Record every term evaluated and every network compared (for analysis and support). */
  trace?: boolean;
}

/** RFC 7208 section 4.6.4 limits. */
export const LIMITS = { lookups: 10, voidLookups: 2, mxNames: 10, ptrNames: 10 } as const;

const qualifierResult: Record<Qualifier, SpfResult> = { '+': 'pass', '-': 'fail', '~': 'softfail', '?': 'neutral' };

/** Ends an evaluation early with a result (permerror, temperror). */
class Stop extends Error {
  constructor(
    readonly result: SpfResult,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** A domain as check_host() accepts it (section 4.3): a fully qualified name with sane labels. */
export function isValidSpfDomain(domain: string): boolean {
  const end = domain.endsWith('.') ? domain.length - 1 : domain.length;
  if (end === 0 || end > 253) return false;
  // One pass over the labels (every evaluation asks this of every target).
  let labelStart = 0;
  let dots = 0;
  for (let i = 0; i <= end; i++) {
    if (i < end && domain.charCodeAt(i) !== 46) continue;
    const length = i - labelStart;
    if (length === 0 || length > 63) return false;
    if (i < end) dots++;
    labelStart = i + 1;
  }
  return dots > 0;
}

/**
 * A name the resolver refuses to even ask (an empty or over-long label after macro expansion) is
 * malformed, which RFC 7208 (4.3, 4.8) treats like a name that does not exist, not like a DNS failure.
 */
function malformedAsNxdomain<T>(outcome: DnsOutcome<T>): DnsOutcome<T> {
  return outcome.status === 'error' && outcome.error === 'badname' ? { status: 'nxdomain' } : outcome;
}

export type RecordLookup =
  | { status: 'record'; text: string; record: SpfRecord }
  | { status: 'none'; reason: string; void: boolean }
  | { status: 'permerror'; reason: string; texts: string[] }
  | { status: 'temperror'; reason: string };

const normalize = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** Parsed records are shared (parseSpfRecord caches them), and so are their parsed networks. */
const networks = new WeakMap<Mechanism, ParsedIp>();
function networkOf(m: Mechanism): ParsedIp {
  let network = networks.get(m);
  if (!network) networks.set(m, (network = parseIp(m.network!)!));
  return network;
}

/** Finds and parses the one SPF record of a domain (section 4.5). */
export async function lookupSpfRecord(dns: DnsLookup, domain: string): Promise<RecordLookup & { texts?: string[] }> {
  const answer = malformedAsNxdomain(await dns.query('TXT', domain));
  if (answer.status === 'error') return { status: 'temperror', reason: `TXT lookup of ${domain} failed (${answer.error})` };
  if (answer.status !== 'ok') return { status: 'none', reason: `${domain} has no TXT records (${answer.status})`, void: true };
  const texts = answer.records.map((strings) => strings.join('')).filter(isSpfRecord);
  if (texts.length === 0) return { status: 'none', reason: `${domain} publishes no SPF record`, void: false };
  if (texts.length > 1) return { status: 'permerror', reason: `${domain} publishes ${texts.length} SPF records`, texts };
  const parsed = parseSpfRecord(texts[0]!);
  if (!parsed.ok) return { status: 'permerror', reason: `${domain}: ${parsed.error}`, texts };
  return { status: 'record', text: texts[0]!, record: parsed.record };
}

type Outcome = { result: SpfResult; reason: string; explanation?: string; decidedBy?: Decision };

/** Letters that make a target depend on the client or the sender. */
const CLIENT_MACRO = /%\{[slohipcv]/i;

class Evaluation {
  lookups = 0;
  voidLookups = 0;
  readonly trace: TraceStep[] | undefined;
  readonly networks: { network: ParsedIp; prefix: number }[] = [];
  private validated: Promise<string> | undefined;
  /** Set by matches(): whether the mechanism that just matched matches every client. */
  private everyClient = false;

  constructor(
    readonly ip: ParsedIp,
    readonly sender: { full: string; local: string; domain: string },
    readonly options: CheckHostOptions & { helo: string; receiver: string; now: Date },
  ) {
    this.trace = options.trace ? [] : undefined;
  }

  private step(step: TraceStep) {
    this.trace?.push(step);
  }

  get dns() {
    return this.options.dns;
  }

  context(domain: string): MacroContext {
    return {
      sender: this.sender.full,
      localPart: this.sender.local,
      senderDomain: this.sender.domain,
      domain,
      ip: this.ip,
      helo: this.options.helo,
      receiver: this.options.receiver,
      now: this.options.now,
      validatedName: () => (this.validated ??= this.validatedName(domain)),
    };
  }

  /** Counts a term that queries DNS; the 11th is a permerror. */
  countLookup(term: string) {
    if (++this.lookups > LIMITS.lookups) throw new Stop('permerror', `more than ${LIMITS.lookups} DNS-querying terms (at ${term})`);
  }

  /** Counts a void answer; the 3rd is a permerror. */
  countVoid(raw: DnsOutcome<unknown>, what: string) {
    const outcome = malformedAsNxdomain(raw);
    if (outcome.status === 'nxdomain' || outcome.status === 'nodata') {
      if (++this.voidLookups > LIMITS.voidLookups) throw new Stop('permerror', `more than ${LIMITS.voidLookups} void lookups (at ${what})`);
    }
  }

  /** DNS failures of mechanisms end the evaluation with temperror (section 5). */
  records<T>(raw: DnsOutcome<T>, what: string): T[] {
    const outcome = malformedAsNxdomain(raw);
    if (outcome.status === 'error') throw new Stop('temperror', `${what} failed (${outcome.error})`);
    return outcome.status === 'ok' ? outcome.records : [];
  }

  async addresses(name: string, what: string, prefix?: number): Promise<ParsedIp[]> {
    const outcome = await this.dns.query(this.ip.version === 4 ? 'A' : 'AAAA', name);
    this.countVoid(outcome, what);
    const found = this.records(outcome, what).flatMap((a) => parseIp(a) ?? []);
    if (prefix !== undefined) for (const network of found) this.networks.push({ network, prefix });
    return found;
  }

  /** The record of `domain`, evaluated; `path` leads to it from the checked domain. */
  async check(domain: string, path: string[]): Promise<Outcome> {
    const found = await lookupSpfRecord(this.dns, domain);
    if (found.status === 'temperror') return { result: 'temperror', reason: found.reason };
    if (found.status === 'permerror') return { result: 'permerror', reason: found.reason };
    if (found.status === 'none') return { result: 'none', reason: found.reason };
    const { record } = found;
    for (const mechanism of record.mechanisms) {
      let matched: boolean;
      try {
        matched = await this.matches(mechanism, domain, path);
      } catch (err) {
        if (err instanceof Stop) this.step({ path, term: mechanism.text, outcome: 'error', detail: err.reason });
        throw err;
      }
      if (mechanism.kind !== 'include') this.step({ path, term: mechanism.text, outcome: matched ? 'match' : 'no match' });
      if (matched) {
        const result = qualifierResult[mechanism.qualifier];
        const reason = `${domain}: matched ${mechanism.text}`;
        const decidedBy: Decision = { path, term: mechanism.text, kind: mechanism.kind, everyClient: this.everyClient };
        if (result === 'fail' && record.exp) {
          const explanation = await this.explain(record.exp, domain);
          return explanation === undefined ? { result, reason, decidedBy } : { result, reason, explanation, decidedBy };
        }
        return { result, reason, decidedBy };
      }
    }
    // A redirect is ignored when the record has an "all" mechanism (section 6.1).
    if (record.redirect && !record.mechanisms.some((m) => m.kind === 'all')) {
      const term = `redirect=${record.redirect}`;
      try {
        this.countLookup(term);
      } catch (err) {
        this.step({ path, term, outcome: 'error', detail: (err as Stop).reason });
        throw err;
      }
      const target = await expandMacros(record.redirect, this.context(domain));
      if (!isValidSpfDomain(target)) {
        this.step({ path, term, target, outcome: 'error', detail: 'not a valid domain' });
        return { result: 'permerror', reason: `redirect target "${target}" is not a valid domain` };
      }
      this.step({ path, term, target, outcome: 'followed' });
      const inner = await this.check(target, [...path, normalize(target)]);
      if (inner.result === 'none') return { result: 'permerror', reason: `redirect=${target}: no SPF record there` };
      return inner;
    }
    return { result: 'neutral', reason: `${domain}: no mechanism matched` };
  }

  private async target(mechanism: Mechanism, domain: string) {
    const spec = mechanism.domainSpec;
    if (!spec) return domain;
    // Most targets are plain names: nothing to expand (a plain name longer than 253 is cut as an expansion would).
    return spec.includes('%') || spec.length > 253 ? expandMacros(spec, this.context(domain)) : spec;
  }

  async matches(m: Mechanism, domain: string, path: string[]): Promise<boolean> {
    this.everyClient = false;
    switch (m.kind) {
      case 'all':
        this.everyClient = true;
        return true;
      case 'ip4':
      case 'ip6': {
        const network = networkOf(m);
        const prefix = m.kind === 'ip4' ? m.cidr4! : m.cidr6!;
        // An ip6 network that is IPv4-mapped is compared as IPv4 with the prefix shifted.
        const effective = m.kind === 'ip6' && network.version === 4 ? Math.max(0, prefix - 96) : prefix;
        this.networks.push({ network, prefix: effective });
        this.everyClient = effective === 0;
        return inNetwork(this.ip, network, effective);
      }
      case 'a': {
        this.countLookup(m.text);
        const name = await this.target(m, domain);
        this.everyClient = this.prefixOf(m) === 0;
        return (await this.addresses(name, m.text, this.prefixOf(m))).some((a) => inNetwork(this.ip, a, this.prefixOf(m)));
      }
      case 'mx': {
        this.countLookup(m.text);
        const name = await this.target(m, domain);
        const outcome = await this.dns.query('MX', name);
        this.countVoid(outcome, m.text);
        const exchanges = this.records(outcome, m.text);
        if (exchanges.length > LIMITS.mxNames) throw new Stop('permerror', `${m.text}: ${name} has ${exchanges.length} MX records (limit ${LIMITS.mxNames})`);
        this.everyClient = this.prefixOf(m) === 0;
        for (const mx of exchanges) {
          if ((await this.addresses(mx.exchange, `${m.text} → ${mx.exchange}`, this.prefixOf(m))).some((a) => inNetwork(this.ip, a, this.prefixOf(m))))
            return true;
        }
        return false;
      }
      case 'ptr': {
        this.countLookup(m.text);
        const target = (await this.target(m, domain)).toLowerCase().replace(/\.$/, '');
        const names = await this.validatedNames();
        return names.some((n) => n === target || n.endsWith(`.${target}`));
      }
      case 'exists': {
        this.countLookup(m.text);
        const name = await this.target(m, domain);
        const outcome = await this.dns.query('A', name);
        this.countVoid(outcome, m.text);
        this.everyClient = !CLIENT_MACRO.test(m.domainSpec!);
        return this.records(outcome, m.text).length > 0;
      }
      case 'include': {
        this.countLookup(m.text);
        const name = await this.target(m, domain);
        if (!isValidSpfDomain(name)) throw new Stop('permerror', `${m.text}: "${name}" is not a valid domain`);
        this.step({ path, term: m.text, target: name, outcome: 'followed' });
        const inner = await this.check(name, [...path, normalize(name)]);
        switch (inner.result) {
          case 'pass':
            this.everyClient = inner.decidedBy?.everyClient ?? false;
            this.step({ path, term: m.text, target: name, outcome: 'match' });
            return true;
          case 'fail':
          case 'softfail':
          case 'neutral':
            this.step({ path, term: m.text, target: name, outcome: 'no match' });
            return false;
          case 'temperror':
            throw new Stop('temperror', inner.reason);
          case 'none':
            // Why a deleted legacy record breaks everyone who still includes it.
            throw new Stop('permerror', `${m.text}: ${name} has no SPF record`);
          default:
            throw new Stop('permerror', inner.reason);
        }
      }
    }
  }

  summary() {
    const counts = { lookups: this.lookups, voidLookups: this.voidLookups };
    return this.trace ? { ...counts, trace: this.trace, networks: this.networks } : counts;
  }

  private prefixOf(m: Mechanism) {
    return this.ip.version === 4 ? (m.cidr4 ?? 32) : (m.cidr6 ?? 128);
  }

  /** PTR names of the client that resolve back to it (the first 10 only; DNS errors give none; void answers count, RFC 7208 §4.6.4). */
  private async validatedNames(): Promise<string[]> {
    const outcome = await this.dns.query('PTR', reverseName(this.ip));
    this.countVoid(outcome, 'ptr');
    if (outcome.status !== 'ok') return [];
    const names: string[] = [];
    for (const name of outcome.records.slice(0, LIMITS.ptrNames)) {
      const back = await this.dns.query(this.ip.version === 4 ? 'A' : 'AAAA', name);
      // A reverse name with no address is a void lookup of the ptr term too (as pyspf and Mail::SPF count it).
      this.countVoid(back, `ptr → ${name}`);
      if (back.status === 'ok' && back.records.some((a) => parseIp(a)?.value === this.ip.value)) names.push(name.toLowerCase().replace(/\.$/, ''));
    }
    return names;
  }

  private async validatedName(domain: string): Promise<string> {
    const names = await this.validatedNames().catch(() => []);
    const d = domain.toLowerCase();
    return names.find((n) => n === d) ?? names.find((n) => n.endsWith(`.${d}`)) ?? names[0] ?? 'unknown';
  }

  /** The explanation of a fail (section 6.2): any problem just means no explanation. */
  private async explain(expSpec: string, domain: string): Promise<string | undefined> {
    try {
      const name = await expandMacros(expSpec, this.context(domain));
      const answer = await this.dns.query('TXT', name);
      if (answer.status !== 'ok' || answer.records.length !== 1) return undefined;
      const text = answer.records[0]!.join('');
      if (checkMacroString(text, { explanation: true })) return undefined;
      return await expandMacros(text, this.context(domain), { domainSpec: false });
    } catch {
      return undefined;
    }
  }
}

/**
 * check_host(ip, domain, sender) of RFC 7208: the SPF result for a client IP sending as `sender`
 * (the HELO identity when the MAIL FROM is empty).
 */
/** Client addresses parsed once: the analysis evaluates the same few clients for every domain. */
const clientIps = new Map<string, ParsedIp | undefined>();

export async function checkHost(ipText: string, domain: string, senderText: string, options: CheckHostOptions): Promise<CheckHostResult> {
  let ip = clientIps.get(ipText);
  if (ip === undefined && !clientIps.has(ipText)) {
    ip = parseIp(ipText);
    if (clientIps.size >= 1000) clientIps.clear();
    clientIps.set(ipText, ip);
  }
  if (!ip) return { result: 'permerror', reason: `"${ipText}" is not an IP address`, lookups: 0, voidLookups: 0 };
  const at = senderText.lastIndexOf('@');
  const local = at === -1 ? 'postmaster' : senderText.slice(0, at) || 'postmaster';
  const senderDomain = at === -1 ? senderText : senderText.slice(at + 1);
  const evaluation = new Evaluation(
    ip,
    { full: `${local}@${senderDomain}`, local, domain: senderDomain },
    {
      ...options,
      helo: options.helo ?? domain,
      receiver: options.receiver ?? 'unknown',
      now: options.now ?? new Date(),
    },
  );
  if (!isValidSpfDomain(domain)) return { result: 'none', reason: `"${domain}" is not a fully qualified domain name`, lookups: 0, voidLookups: 0 };
  try {
    const outcome = await evaluation.check(domain, [normalize(domain)]);
    return { ...outcome, ...evaluation.summary() };
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    return { result: err.result, reason: err.reason, ...evaluation.summary() };
  }
}
