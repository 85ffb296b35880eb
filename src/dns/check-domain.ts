import { discoverDmarc, type DmarcFinding } from './dmarc.ts';
import { classifyMx, type MxFinding } from './mx.ts';
import { withDeadline, type DnsLookup } from './resolver.ts';
import { analyzeSpf, isUnder, NON_MATCHING_IPV4, normalizeName, type LegacyReference, type SpfAnalysis } from './spf/analyze.ts';
import { checkHost, LIMITS, type SpfResult } from './spf/check-host.ts';
import { dependsOnSender } from './spf/spf-macro.ts';

export interface Identifiers {
  legacyMxSuffixes: string[];
  legacySpfIncludes: string[];
  successorMxSuffixes: string[];
  successorSpfIncludes: string[];
}

export type SpfState = 'legacy_referenced' | 'error' | 'invalid' | 'none' | 'clean';
export type Verdict = 'needs_mx_and_spf' | 'needs_mx_change' | 'needs_spf_cleanup' | 'unknown' | 'clean';
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';

export interface Impact {
  severity: Severity;
  code: string;
  message: string;
}

export interface DomainCheck {
  domain: string;
  checkedAt: string;
  durationMs: number;
  verdict: Verdict;
  mx: MxFinding;
  spf: {
    state: SpfState;
    records: string[];
    lookupCount: number;
    voidLookupCount: number;
    legacyReferences: LegacyReference[];
    errors: SpfAnalysis['errors'];
    dynamicTerms: SpfAnalysis['dynamicTerms'];
    /** check_host() for an IPv4 client matching nothing, with every legacy include domain gone. */
    resultIfLegacyDeleted: SpfResult;
    suggestedRecord: string | null;
    suggestedLookupCount: number | null;
  };
  dmarc: DmarcFinding;
  impact: Impact[];
  instructions: { en: string[]; ja: string[] };
}

/** The "pull the plug" world: every name at or under a legacy include domain does not exist. */
export function withoutLegacyRecords(dns: DnsLookup, legacyIncludes: string[]): DnsLookup {
  const legacy = legacyIncludes.map(normalizeName);
  return {
    description: dns.description,
    query: (type, name) => (isUnder(name, legacy) ? Promise.resolve({ status: 'nxdomain' }) : dns.query(type, name)),
  };
}

export function spfStateOf(analysis: SpfAnalysis): SpfState {
  if (analysis.legacyReferences.length > 0) return 'legacy_referenced';
  if (analysis.errors.some((e) => e.kind === 'dns')) return 'error';
  if (analysis.errors.length > 0) return 'invalid';
  return analysis.records.length === 0 ? 'none' : 'clean';
}

/** The verdict rules of issue 4, in one place: action first, then unknown, never a guessed clean. */
export function verdictOf(mxState: MxFinding['state'], spfState: SpfState): Verdict {
  const mxAction = mxState === 'legacy' || mxState === 'mixed';
  const spfAction = spfState === 'legacy_referenced';
  if (mxAction && spfAction) return 'needs_mx_and_spf';
  if (mxAction) return 'needs_mx_change';
  if (spfAction) return 'needs_spf_cleanup';
  if (mxState === 'error' || spfState === 'error') return 'unknown';
  return 'clean';
}

/**
 * The domain's record with its legacy include/redirect terms replaced by the successor's includes
 * (not repeating ones already there), everything else unchanged. Null when the record itself has no
 * legacy reference (nothing the customer can change in it) or there is not exactly one record.
 */
export function suggestRecord(records: string[], legacyIncludes: string[], successorIncludes: string[]): string | null {
  if (records.length !== 1) return null;
  const legacy = legacyIncludes.map(normalizeName);
  const terms = records[0]!.split(' ').filter(Boolean);
  const targetOf = (term: string) => /^[+\-~?]?(?:include:|redirect=)(.+)$/i.exec(term)?.[1];
  const isLegacy = (term: string) => {
    const t = targetOf(term);
    return t !== undefined && isUnder(dependsOnSender(t) ? t : normalizeName(t), legacy);
  };
  if (!terms.some(isLegacy)) return null;
  const present = new Set(terms.map(targetOf).filter((t): t is string => t !== undefined).map(normalizeName));
  const missing = successorIncludes.map(normalizeName).filter((s) => !present.has(s));
  const out: string[] = [];
  let placed = false;
  for (const term of terms) {
    if (!isLegacy(term)) {
      out.push(term);
      continue;
    }
    if (placed) continue;
    placed = true;
    if (/^redirect=/i.test(term)) {
      // The legacy record supplied the whole policy; the successor's takes its place.
      out.push(...missing.slice(1).map((s) => `include:${s}`));
      if (missing[0]) out.push(`redirect=${missing[0]}`);
    } else {
      const qualifier = /^[+\-~?]/.test(term) && term[0] !== '+' ? term[0] : '';
      out.push(...missing.map((s) => `${qualifier}include:${s}`));
    }
  }
  return out.join(' ');
}

const severityOrder: Severity[] = ['critical', 'high', 'medium', 'low', 'info'];

function rankImpact(check: Omit<DomainCheck, 'impact' | 'instructions'>): Impact[] {
  const impacts: Impact[] = [];
  const { spf, mx, dmarc, domain } = check;
  const breaksAtDeletion = spf.resultIfLegacyDeleted === 'permerror' && spf.legacyReferences.some((r) => r.live);
  if (breaksAtDeletion) {
    if (dmarc.policy === 'reject') {
      impacts.push({ severity: 'critical', code: 'rejected_at_deletion', message: `When the legacy SPF record is deleted, SPF for ${domain} becomes permerror and DMARC p=reject makes receivers reject its mail unless DKIM aligns.` });
    } else if (dmarc.policy === 'quarantine') {
      impacts.push({ severity: 'high', code: 'quarantined_at_deletion', message: `When the legacy SPF record is deleted, SPF for ${domain} becomes permerror and DMARC p=quarantine sends its mail to spam unless DKIM aligns.` });
    } else {
      impacts.push({ severity: 'medium', code: 'spf_permerror_at_deletion', message: `When the legacy SPF record is deleted, SPF for ${domain} becomes permerror for every sender, weakening its protection against spoofing.` });
    }
  }
  if (mx.state === 'legacy') impacts.push({ severity: 'critical', code: 'inbound_mail_lost', message: `All MX hosts of ${domain} are on the legacy service: incoming mail stops at the shutdown.` });
  if (mx.state === 'mixed') impacts.push({ severity: 'high', code: 'inbound_mail_partly_lost', message: `Some MX hosts of ${domain} are on the legacy service: part of its incoming mail is lost at the shutdown.` });
  if (spf.state === 'invalid' || (spf.state === 'legacy_referenced' && spf.errors.some((e) => e.kind !== 'dns'))) {
    impacts.push({ severity: 'high', code: 'spf_broken_now', message: `The SPF of ${domain} already evaluates to permerror: ${spf.errors.filter((e) => e.kind !== 'dns').map((e) => e.message).join('; ')}` });
  }
  if (spf.suggestedLookupCount !== null && spf.suggestedLookupCount > LIMITS.lookups) {
    impacts.push({ severity: 'medium', code: 'fix_exceeds_lookup_limit', message: `The suggested record would need ${spf.suggestedLookupCount} DNS lookups (limit ${LIMITS.lookups}).` });
  }
  if (spf.legacyReferences.length > 0 && spf.legacyReferences.every((r) => !r.live)) {
    impacts.push({ severity: 'low', code: 'dead_legacy_reference', message: `${domain} names the legacy record only where no evaluation reaches it; remove it anyway.` });
  }
  if (spf.errors.some((e) => e.kind === 'dns') || mx.state === 'error' || dmarc.error) {
    impacts.push({ severity: 'info', code: 'incomplete', message: 'DNS did not answer every question; this check is incomplete and will be repeated.' });
  }
  if (dmarc.deprecatedTags.length > 0) {
    impacts.push({ severity: 'info', code: 'dmarc_deprecated_tags', message: `The DMARC record uses tags RFC 9989 removed: ${dmarc.deprecatedTags.join(', ')}.` });
  }
  return impacts.sort((a, b) => severityOrder.indexOf(a.severity) - severityOrder.indexOf(b.severity));
}

function instructionsFor(check: Omit<DomainCheck, 'instructions'>, ids: Identifiers): { en: string[]; ja: string[] } {
  const en: string[] = [];
  const ja: string[] = [];
  const { domain, mx, spf } = check;
  const successorMx = ids.successorMxSuffixes.join(', ') || 'the successor service';
  if (mx.state === 'legacy' || mx.state === 'mixed') {
    const legacyHosts = mx.hosts.filter((h) => h.side === 'legacy').map((h) => h.exchange).join(', ');
    en.push(`Point the MX records of ${domain} to ${successorMx} (legacy hosts now: ${legacyHosts}).`);
    ja.push(`${domain} の MX レコードを ${successorMx} に向けてください（現在の旧サービスのホスト: ${legacyHosts}）。`);
  }
  if (spf.suggestedRecord) {
    en.push(`Replace the SPF record of ${domain} with: ${spf.suggestedRecord}`);
    ja.push(`${domain} の SPF レコードを次のとおり置き換えてください: ${spf.suggestedRecord}`);
  }
  for (const ref of spf.legacyReferences.filter((r) => r.path.length > 1)) {
    const holder = ref.path[ref.path.length - 1]!;
    en.push(`${holder}, which ${domain} includes, still references the legacy record (${ref.term}); ask its owner to remove it, or stop including ${holder}.`);
    ja.push(`${domain} が参照している ${holder} のレコードが旧サービスを参照しています（${ref.term}）。管理者に削除を依頼するか、${holder} の参照をやめてください。`);
  }
  if (spf.state === 'legacy_referenced' && spf.records.length > 1) {
    en.push(`${domain} publishes ${spf.records.length} SPF records; merge them into one without the legacy include.`);
    ja.push(`${domain} には SPF レコードが ${spf.records.length} 件あります。旧サービスの include を除いて 1 件にまとめてください。`);
  }
  if (spf.suggestedLookupCount !== null && spf.suggestedLookupCount > LIMITS.lookups) {
    en.push(`The fixed record would need ${spf.suggestedLookupCount} DNS lookups (limit ${LIMITS.lookups}); remove or flatten includes before publishing it.`);
    ja.push(`修正後のレコードは DNS 参照が ${spf.suggestedLookupCount} 回になり、上限の ${LIMITS.lookups} 回を超えます。公開前に include を整理してください。`);
  }
  if (check.verdict === 'unknown') {
    en.push(`DNS did not answer for ${domain}; nothing is concluded and the domain will be checked again.`);
    ja.push(`${domain} について DNS の応答が得られなかったため、判定を保留し再確認します。`);
  }
  if (check.verdict === 'clean') {
    en.push(`Nothing to do: ${domain} is ready for the shutdown.`);
    ja.push(`対応は不要です。${domain} は移行済みです。`);
  }
  return { en, ja };
}

export interface CheckOptions {
  now?: () => Date;
  /** Overall time budget of one domain (RFC 7208 suggests 20 s). */
  budgetMs?: number;
}

/** Everything the product knows about one domain: MX, SPF, DMARC, verdict, impact and guidance. */
export async function checkDomain(domainName: string, ids: Identifiers, sweepDns: DnsLookup, options: CheckOptions = {}): Promise<DomainCheck> {
  const started = Date.now();
  const domain = normalizeName(domainName);
  const dns = withDeadline(sweepDns, started + (options.budgetMs ?? 20_000));
  try {
    return await checkWithin(domain, ids, dns, started, options);
  } finally {
    dns.close();
  }
}

async function checkWithin(domain: string, ids: Identifiers, dns: DnsLookup, started: number, options: CheckOptions): Promise<DomainCheck> {
  const [mx, analysis] = await Promise.all([
    classifyMx(domain, dns, ids.legacyMxSuffixes, ids.successorMxSuffixes),
    analyzeSpf(domain, dns, ids.legacySpfIncludes),
  ]);
  const dmarc = await discoverDmarc(domain, dns, mx.state !== 'nxdomain');
  const state = spfStateOf(analysis);
  const resultIfLegacyDeleted =
    analysis.records.length === 0
      ? 'none'
      : (await checkHost(NON_MATCHING_IPV4, domain, `postmaster@${domain}`, { dns: withoutLegacyRecords(dns, ids.legacySpfIncludes) })).result;
  const suggestedRecord = suggestRecord(analysis.records, ids.legacySpfIncludes, ids.successorSpfIncludes);
  // The fix is judged against today's DNS, with the legacy records already gone.
  const suggestedLookupCount = suggestedRecord
    ? (await analyzeSpf(domain, withoutLegacyRecords(dns, ids.legacySpfIncludes), ids.legacySpfIncludes, suggestedRecord)).lookupCount
    : null;
  const base = {
    domain,
    checkedAt: (options.now?.() ?? new Date()).toISOString(),
    durationMs: Date.now() - started,
    verdict: verdictOf(mx.state, state),
    mx,
    spf: {
      state,
      records: analysis.records,
      lookupCount: analysis.lookupCount,
      voidLookupCount: analysis.voidLookupCount,
      legacyReferences: analysis.legacyReferences,
      errors: analysis.errors,
      dynamicTerms: analysis.dynamicTerms,
      resultIfLegacyDeleted,
      suggestedRecord,
      suggestedLookupCount,
    },
    dmarc,
  };
  const withImpact = { ...base, impact: rankImpact(base) };
  return { ...withImpact, instructions: instructionsFor(withImpact, ids) };
}
