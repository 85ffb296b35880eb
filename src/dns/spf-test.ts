import type { Identifiers } from './evaluate-domain.ts';
import { withDeadline, type DnsLookup } from './resolver.ts';
import { checkHost, type SpfResult, type TraceStep } from './spf/check-host.ts';
import { Aliases, normalizeName, withoutLegacyRecords } from './spf/worlds.ts';

export interface SpfTestQuestion {
  ip: string;
  /** MAIL FROM; `postmaster@<domain>` when not given (RFC 7208 §2.4: the HELO identity's form). */
  sender?: string | undefined;
  helo?: string | undefined;
}

export interface SpfEvaluation {
  result: SpfResult;
  reason: string;
  explanation?: string;
  lookups: number;
  voidLookups: number;
  /** Every term evaluated, in order, with where it stands and how it ended. */
  terms: TraceStep[];
}

export interface SpfTestAnswer {
  domain: string;
  ip: string;
  sender: string;
  helo: string;
  today: SpfEvaluation;
  afterDeletion: SpfEvaluation;
}

/**
 * "Will mail from this server still pass?": check_host() for one client, today and in the world
 * without the legacy records (CNAMEs into them included), each with the terms it evaluated.
 */
export async function testSpf(
  domainName: string,
  ids: Pick<Identifiers, 'legacySpfIncludes'>,
  sweepDns: DnsLookup,
  question: SpfTestQuestion,
  now: Date,
  budgetMs = 20_000,
): Promise<SpfTestAnswer> {
  const domain = normalizeName(domainName);
  const sender = question.sender || `postmaster@${domain}`;
  const helo = question.helo || domain;
  const dns = withDeadline(sweepDns, Date.now() + budgetMs);
  try {
    const deleted = withoutLegacyRecords(new Aliases(dns, ids.legacySpfIncludes.map(normalizeName)));
    const evaluate = async (world: DnsLookup): Promise<SpfEvaluation> => {
      const r = await checkHost(question.ip, domain, sender, { dns: world, helo, now, trace: true });
      return {
        result: r.result,
        reason: r.reason,
        ...(r.explanation !== undefined ? { explanation: r.explanation } : {}),
        lookups: r.lookups,
        voidLookups: r.voidLookups,
        terms: r.trace ?? [],
      };
    };
    const [today, afterDeletion] = await Promise.all([evaluate(dns), evaluate(deleted)]);
    return { domain, ip: question.ip, sender, helo, today, afterDeletion };
  } finally {
    dns.close();
  }
}
