import type { DnsLookup, DnsOutcome, RecordType } from '../resolver.ts';

/** CNAME hops followed before a chain counts as broken (resolvers stop around here too). */
const MAX_HOPS = 8;

export const normalizeName = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** Whether `target` is one of `domains` or below one. */
export function isUnder(target: string, domains: readonly string[]): boolean {
  const t = normalizeName(target);
  return domains.some((d) => t === d || t.endsWith(`.${d}`));
}

/** Where a name's CNAME chain leads: its names in order (the name itself first), or a DNS failure. */
export type Chain = { names: string[] } | { error: string };

/**
 * Where names alias to, each name asked once per instance (and the sweep's cache below shares the
 * answers between domains). Where the lookup reports the chain of each answer, the chain is read
 * off an answer the check asks for anyway (its TXT, or the A question of an `a` term); otherwise
 * CNAME is asked, one question per hop. Wildcard CNAMEs come back as CNAMEs of the name asked,
 * so they are followed the same way.
 */
export class Aliases {
  private chains = new Map<string, Promise<Chain>>();

  constructor(
    readonly dns: DnsLookup,
    readonly legacy: readonly string[],
  ) {}

  /** The chain of `name`; `type` is the question to read it from (any type aliases alike). */
  chainOf(name: string, type: RecordType = 'TXT'): Promise<Chain> {
    const key = normalizeName(name);
    let chain = this.chains.get(key);
    if (!chain) {
      // A name under the legacy include is gone after the deletion whatever it aliases.
      if (isUnder(key, this.legacy)) chain = Promise.resolve({ names: [key] });
      else chain = this.dns.reportsAliases ? this.read(key, type) : this.follow(key);
      this.chains.set(key, chain);
    }
    return chain;
  }

  private async read(name: string, type: RecordType): Promise<Chain> {
    const answer = await this.dns.query(type, name);
    if (answer.status === 'error') return { error: `${type} lookup of ${name} failed (${answer.error})` };
    const names = [name, ...(answer.aliases ?? [])];
    const cut = names.findIndex((n) => isUnder(n, this.legacy));
    if (cut >= 0) return { names: names.slice(0, cut + 1) };
    if (names.length > MAX_HOPS + 1) return { error: `CNAME chain of ${name} longer than ${MAX_HOPS}` };
    return { names };
  }

  private async follow(name: string): Promise<Chain> {
    const names = [name];
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const last = names[names.length - 1]!;
      if (isUnder(last, this.legacy)) return { names };
      const answer = await this.dns.query('CNAME', last);
      if (answer.status === 'error') return { error: `CNAME lookup of ${last} failed (${answer.error})` };
      if (answer.status !== 'ok') return { names };
      const next = normalizeName(answer.records[0]!);
      if (names.includes(next)) return { error: `CNAME loop at ${next}` };
      names.push(next);
    }
    return { error: `CNAME chain of ${name} longer than ${MAX_HOPS}` };
  }

  /** The chain of `name` when it leads at or under a legacy include name (the name itself counts). */
  async legacyChain(name: string, type: RecordType = 'TXT'): Promise<string[] | null | { error: string }> {
    const chain = await this.chainOf(name, type);
    if ('error' in chain) return chain;
    return isUnder(chain.names[chain.names.length - 1]!, this.legacy) ? chain.names : null;
  }
}

const gone: DnsOutcome<never> = { status: 'nxdomain' };

/**
 * The "pull the plug" world: every name at or under a legacy include name is gone, and so is the
 * answer of every name whose CNAME chain ends there (it dangles). Deleting records only ever
 * empties answers, so a name that answers nothing today is not asked for its chain.
 */
export function withoutLegacyRecords(aliases: Aliases): DnsLookup {
  const { dns, legacy } = aliases;
  return {
    description: dns.description,
    reportsAliases: dns.reportsAliases === true,
    async query(type, name) {
      if (isUnder(name, legacy)) return gone;
      const answer = await dns.query(type, name);
      if (answer.status !== 'ok') return answer;
      const chain = await aliases.legacyChain(name, type);
      if (chain === null) return answer;
      if ('error' in chain) return { status: 'error', error: 'other', message: chain.error };
      return gone;
    },
  };
}

/**
 * A world where some names publish another SPF record (a suggested fix): their TXT answer is that
 * record alone; everything else is asked of `dns`.
 */
export function withRecords(dns: DnsLookup, records: ReadonlyMap<string, string>): DnsLookup {
  return {
    description: dns.description,
    reportsAliases: dns.reportsAliases === true,
    query(type, name) {
      const text = type === 'TXT' ? records.get(normalizeName(name)) : undefined;
      return text === undefined ? dns.query(type, name) : Promise.resolve({ status: 'ok', records: [[text]] } as never);
    },
  };
}

/** Each question asked once per instance (one domain's check): its many evaluations ask the same names. */
export function memoized(dns: DnsLookup): DnsLookup {
  const answers = new Map<string, Promise<DnsOutcome<unknown>>>();
  return {
    description: dns.description,
    reportsAliases: dns.reportsAliases === true,
    query(type, name) {
      const key = `${type} ${name.toLowerCase()}`;
      let answer = answers.get(key);
      if (!answer) answers.set(key, (answer = dns.query(type, name)));
      return answer as never;
    },
  };
}
