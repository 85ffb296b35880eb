import { parseIp } from '../ip.ts';
import type { DnsLookup, DnsOutcome } from '../resolver.ts';
import { isValidSpfDomain, LIMITS, lookupSpfRecord } from './check-host.ts';
import { dependsOnSender, expandMacros, type MacroContext } from './spf-macro.ts';
import { parseSpfRecord, type Mechanism, type SpfRecord } from './spf-record.ts';
import { isUnder, normalizeName, type Aliases } from './worlds.ts';

export interface LegacyReference {
  /** The term as written, e.g. `include:spf.po.2iij.net`. */
  term: string;
  /** Domains from the checked domain down to the record holding the term, then any CNAMEs it goes through. */
  path: string[];
  /** The record holding the term (the one to change). */
  holder: string;
  /** CNAMEs between the term and the legacy name (`_spf.example.jp` → spf.po.2iij.net), in order. */
  aliases: string[];
  /** The legacy name reached: expanded when the target depends only on the domain, else literal. */
  target: string;
  /**
   * Whether an evaluation reaches the term: not after `all`, not past the 10-lookup limit, not
   * behind a term every client matches (set from the evaluations of every client class).
   */
  live: boolean;
}

export type SpfErrorKind = 'dns' | 'syntax' | 'multiple_records' | 'missing_include' | 'loop' | 'lookup_limit' | 'void_limit' | 'mx_limit' | 'too_large';

export interface SpfFinding {
  kind: SpfErrorKind;
  path: string[];
  message: string;
}

export interface SpfAnalysis {
  /** Every SPF record published at the domain, as the raw concatenated strings. */
  records: string[];
  /** DNS-querying terms an evaluation would use, counted past the limit of 10. */
  lookupCount: number;
  voidLookupCount: number;
  legacyReferences: LegacyReference[];
  /** Problems that make an evaluation permerror, or (kind dns) leave part of the tree unknown. */
  errors: SpfFinding[];
  /** Terms whose target depends on the sender or client; counted, not resolved. */
  dynamicTerms: { term: string; path: string[] }[];
  /** DNS-querying terms of the top record with the lookups each costs (itself and what it includes). */
  termCosts: { term: string; lookups: number }[];
}

/** The client of the static expansion: macros it expands depend only on the domain (see dependsOnSender). */
const EXPANSION_IPV4 = '192.0.2.1';

const MAX_NODES = 500;

class Walk {
  analysis: SpfAnalysis = { records: [], lookupCount: 0, voidLookupCount: 0, legacyReferences: [], errors: [], dynamicTerms: [], termCosts: [] };
  private nodes = 0;

  constructor(
    private dns: DnsLookup,
    private legacy: readonly string[],
    private aliases: Aliases,
  ) {}

  private context(domain: string): MacroContext {
    // Only domain-dependent letters reach expansion (see dependsOnSender); the rest is a fixed client.
    const ip = parseIp(EXPANSION_IPV4)!;
    return {
      sender: `postmaster@${domain}`,
      localPart: 'postmaster',
      senderDomain: domain,
      domain,
      ip,
      helo: domain,
      receiver: 'unknown',
      now: new Date(0),
      validatedName: async () => 'unknown',
    };
  }

  private finding(kind: SpfErrorKind, path: string[], message: string) {
    this.analysis.errors.push({ kind, path, message });
  }

  private countVoid(outcome: DnsOutcome<unknown>, path: string[], what: string) {
    if (outcome.status === 'nxdomain' || outcome.status === 'nodata') this.analysis.voidLookupCount++;
    if (outcome.status === 'error') this.finding('dns', path, `${what}: DNS ${outcome.error}`);
  }

  /** The target of a term: expanded if it depends only on the domain, else undefined (dynamic). */
  private async targetOf(spec: string | undefined, domain: string): Promise<string | undefined> {
    if (!spec) return domain;
    if (dependsOnSender(spec)) return undefined;
    return normalizeName(await expandMacros(spec, this.context(domain)));
  }

  /** Walks the record(s) of `domain`; `live` says whether an evaluation reaches them. */
  async domain(domain: string, path: string[], live: boolean, top = false): Promise<'ok' | 'none' | 'error'> {
    if (++this.nodes > MAX_NODES) {
      if (this.nodes === MAX_NODES + 1) this.finding('too_large', path, `the include tree has more than ${MAX_NODES} records; not followed further`);
      return 'error';
    }
    const found = await lookupSpfRecord(this.dns, domain);
    if (found.status === 'temperror') {
      this.finding('dns', path, found.reason);
      return 'error';
    }
    if (top && 'texts' in found && found.texts) this.analysis.records.push(...found.texts);
    if (top && found.status === 'record') this.analysis.records.push(found.text);
    if (found.status === 'none') return 'none';
    if (found.status === 'permerror') {
      const several = (found.texts?.length ?? 0) > 1;
      if (live) this.finding(several ? 'multiple_records' : 'syntax', path, found.reason);
      // Every record published there is still searched for legacy references.
      for (const text of found.texts ?? []) {
        const parsed = parseSpfRecord(text);
        if (parsed.ok) await this.record(parsed.record, domain, path, false);
        else this.scanUnparsed(text, path);
      }
      return 'ok';
    }
    await this.record(found.record, domain, path, live);
    return 'ok';
  }

  /** A record that does not parse may still name the legacy include: look at its words. */
  private scanUnparsed(text: string, path: string[]) {
    for (const word of text.split(/\s+/)) {
      const m = /^[+\-~?]?(include:|redirect=)(.+)$/i.exec(word);
      if (m && isUnder(m[2]!, this.legacy)) {
        this.analysis.legacyReferences.push({ term: word, path, holder: path[path.length - 1]!, aliases: [], target: normalizeName(m[2]!), live: false });
      }
    }
  }

  async record(record: SpfRecord, domain: string, path: string[], live: boolean) {
    let reached = live;
    const top = path.length === 1;
    for (const m of record.mechanisms) {
      const before = this.analysis.lookupCount;
      await this.mechanism(m, domain, path, reached);
      if (top && this.analysis.lookupCount > before) this.analysis.termCosts.push({ term: m.text, lookups: this.analysis.lookupCount - before });
      // A client matching nothing stops at `all`: later terms are never evaluated.
      if (m.kind === 'all') reached = false;
    }
    if (record.redirect) {
      const liveRedirect = live && !record.mechanisms.some((m) => m.kind === 'all');
      const before = this.analysis.lookupCount;
      await this.include(`redirect=${record.redirect}`, record.redirect, domain, path, liveRedirect);
      if (top && this.analysis.lookupCount > before)
        this.analysis.termCosts.push({ term: `redirect=${record.redirect}`, lookups: this.analysis.lookupCount - before });
    }
  }

  private count(live: boolean) {
    if (live) this.analysis.lookupCount++;
  }

  private async mechanism(m: Mechanism, domain: string, path: string[], live: boolean) {
    switch (m.kind) {
      case 'include':
        return this.include(m.text, m.domainSpec!, domain, path, live);
      case 'a':
      case 'mx':
      case 'exists': {
        this.count(live);
        const target = await this.targetOf(m.domainSpec, domain);
        if (target === undefined) {
          if (live) this.analysis.dynamicTerms.push({ term: m.text, path });
          return;
        }
        if (!live) return;
        if (m.kind === 'mx') {
          const mx = await this.dns.query('MX', target);
          this.countVoid(mx, path, m.text);
          if (mx.status !== 'ok') return;
          if (mx.records.length > LIMITS.mxNames) {
            this.finding('mx_limit', path, `${m.text}: ${target} has ${mx.records.length} MX records (limit ${LIMITS.mxNames})`);
          }
          for (const r of mx.records.slice(0, LIMITS.mxNames)) this.countVoid(await this.dns.query('A', r.exchange), path, `${m.text} → ${r.exchange}`);
          return;
        }
        this.countVoid(await this.dns.query('A', target), path, m.text);
        return;
      }
      case 'ptr':
        // PTR looks up the client's own address: unknown until a message arrives.
        this.count(live);
        if (live) this.analysis.dynamicTerms.push({ term: m.text, path });
        return;
      default:
        return;
    }
  }

  private async include(term: string, spec: string, domain: string, path: string[], live: boolean) {
    this.count(live);
    const target = await this.targetOf(spec, domain);
    const shown = target ?? normalizeName(spec);
    // A target at or under a legacy name, or one whose CNAME chain ends there, is a legacy reference.
    const chain = target !== undefined && isValidSpfDomain(target) ? await this.aliases.legacyChain(target) : isUnder(shown, this.legacy) ? [shown] : null;
    if (target === undefined && live) this.analysis.dynamicTerms.push({ term, path });
    if (chain && 'error' in chain) {
      this.finding('dns', path, `${term}: ${chain.error}`);
      return;
    }
    if (chain) {
      const aliases = chain.slice(0, -1);
      this.analysis.legacyReferences.push({
        term,
        path: [...path, ...aliases],
        holder: path[path.length - 1]!,
        aliases,
        target: chain[chain.length - 1]!,
        live,
      });
      // What the legacy record says is the provider's; it goes with the deletion.
      return;
    }
    if (target === undefined) return;
    if (!isValidSpfDomain(target)) {
      if (live) this.finding('syntax', path, `${term}: "${target}" is not a valid domain`);
      return;
    }
    if (path.includes(target)) {
      if (live) this.finding('loop', [...path, target], `${term} loops back to ${target}`);
      return;
    }
    const status = await this.domain(target, [...path, target], live);
    if (status === 'none') {
      if (live) this.analysis.voidLookupCount++;
      if (live) this.finding('missing_include', [...path, target], `${term}: ${target} publishes no SPF record (permerror)`);
    }
  }
}

/**
 * The static expansion of a domain's SPF: what an evaluation for an IPv4 client matching nothing
 * would look up, with every limit counted past its threshold, loops cut, and every reference to a
 * legacy include domain found at any depth.
 */
export async function analyzeSpf(domain: string, dns: DnsLookup, aliases: Aliases): Promise<SpfAnalysis> {
  const walk = new Walk(dns, aliases.legacy, aliases);
  const d = normalizeName(domain);
  const aliased = await aliases.legacyChain(d);
  if (aliased && !('error' in aliased) && aliased.length > 1) {
    // The domain itself is a CNAME into the legacy name: its whole SPF goes with the deletion.
    const found = await lookupSpfRecord(dns, d);
    if (found.status === 'record') walk.analysis.records.push(found.text);
    const names = aliased.slice(0, -1);
    walk.analysis.legacyReferences.push({
      term: `CNAME ${aliased[1]}`,
      path: names,
      holder: d,
      aliases: names,
      target: aliased[aliased.length - 1]!,
      live: true,
    });
  } else {
    await walk.domain(d, [d], true, true);
  }
  const a = walk.analysis;
  if (a.lookupCount > LIMITS.lookups)
    a.errors.push({ kind: 'lookup_limit', path: [d], message: `${a.lookupCount} DNS-querying terms (limit ${LIMITS.lookups})` });
  if (a.voidLookupCount > LIMITS.voidLookups)
    a.errors.push({ kind: 'void_limit', path: [d], message: `${a.voidLookupCount} void lookups (limit ${LIMITS.voidLookups})` });
  return a;
}
