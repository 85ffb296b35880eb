import { inspectDkim, type DkimFinding, type DkimIdentifiers } from './dkim.ts';
import { discoverDmarc, type DmarcFinding } from './dmarc.ts';
import { classifyMx, type MxFinding } from './mx.ts';
import { withDeadline, type DnsLookup } from './resolver.ts';
import { analyzeSpf, type LegacyReference, type SpfAnalysis, type SpfFinding } from './spf/analyze.ts';
import { LIMITS, lookupSpfRecord, type SpfResult } from './spf/check-host.ts';
import { evaluationCacheOf, isTemplateRecord, rebasePath, rebaseText, type EvaluationCache } from './spf/clients.ts';
import { analyzeDeletion, type ClientOutcome, type DeletionAnalysis, type SpfSuggestion } from './spf/deletion.ts';
import { Aliases, memoized, normalizeName } from './spf/worlds.ts';

export interface Identifiers extends DkimIdentifiers {
  legacyMxSuffixes: string[];
  legacySpfIncludes: string[];
  successorMxSuffixes: string[];
  successorSpfIncludes: string[];
}

export type SpfState = 'legacy_referenced' | 'error' | 'invalid' | 'none' | 'clean';
export type Verdict = 'needs_mx_and_spf' | 'needs_mx_change' | 'needs_spf_cleanup' | 'domain_not_found' | 'unknown' | 'clean';
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';

export interface Impact {
  severity: Severity;
  code: string;
  message: string;
}

export interface DomainEvaluation {
  domain: string;
  checkedAt: string;
  durationMs: number;
  verdict: Verdict;
  mx: MxFinding;
  spf: {
    state: SpfState;
    records: string[];
    /** Lookups the evaluation of a stranger makes today; past the limit, every lookup the record needs. */
    lookupCount: number;
    /** Void lookups the evaluation of a stranger makes today (RFC 7208 §4.6.4). */
    voidLookupCount: number;
    legacyReferences: LegacyReference[];
    errors: SpfAnalysis['errors'];
    dynamicTerms: SpfAnalysis['dynamicTerms'];
    /** The worst result a stranger (a client no term matches) gets today. */
    resultNow: SpfResult;
    /** The worst result a stranger gets once every legacy name (and what aliases it) is gone. */
    resultIfLegacyDeleted: SpfResult;
    /** Some client that does not get permerror today gets it after the deletion. */
    breaksAtDeletion: boolean;
    /** Each client class: who, and what it gets today and after the deletion. */
    clients: ClientOutcome[];
    /** The record to publish at the domain itself, shown only when the evaluation proved it. */
    suggestedRecord: string | null;
    suggestedLookupCount: number | null;
    suggestion: SpfSuggestion | null;
    blockedBy: DeletionAnalysis['blockedBy'];
  };
  dmarc: DmarcFinding;
  dkim: DkimFinding;
  impact: Impact[];
  instructions: { en: string[]; ja: string[] };
}

export function spfStateOf(analysis: Pick<SpfAnalysis, 'records' | 'legacyReferences' | 'errors'>): SpfState {
  if (analysis.legacyReferences.length > 0) return 'legacy_referenced';
  if (analysis.errors.some((e) => e.kind === 'dns')) return 'error';
  if (analysis.errors.length > 0) return 'invalid';
  return analysis.records.length === 0 ? 'none' : 'clean';
}

/** The verdict rules, in one place: action first, then unknown, then a missing domain; never a guessed clean. */
export function verdictOf(mxState: MxFinding['state'], spfState: SpfState): Verdict {
  const mxAction = mxState === 'legacy' || mxState === 'mixed';
  const spfAction = spfState === 'legacy_referenced';
  if (mxAction && spfAction) return 'needs_mx_and_spf';
  if (mxAction) return 'needs_mx_change';
  if (spfAction) return 'needs_spf_cleanup';
  if (mxState === 'error' || spfState === 'error') return 'unknown';
  if (mxState === 'nxdomain' && spfState === 'none') return 'domain_not_found';
  return 'clean';
}

const severityOrder: Severity[] = ['critical', 'high', 'medium', 'low', 'info'];

type Finding = Omit<DomainEvaluation, 'impact' | 'instructions'>;

/** The legacy-deletion impact, ranked by DMARC; a published successor DKIM key lowers it one step. */
function deletionImpact({ domain, spf, dmarc, dkim }: Finding): Impact | null {
  if (!spf.breaksAtDeletion) return null;
  const successor = spf.clients.find((c) => c.class === 'successor');
  const who =
    successor && successor.afterDeletion !== 'permerror'
      ? `for every sender not listed before the legacy reference (the successor's servers still get ${successor.afterDeletion})`
      : "for every sender, the successor's servers included";
  const dkimNote = dkim.successorKeyPublished ? ' A successor DKIM key is published, so mail it signs can still pass DMARC through aligned DKIM.' : '';
  const lower = (s: Severity): Severity => (dkim.successorKeyPublished ? severityOrder[severityOrder.indexOf(s) + 1]! : s);
  const head = `When the legacy SPF record is deleted, SPF for ${domain} becomes permerror ${who}`;
  if (dmarc.policy === 'reject')
    return {
      severity: lower('critical'),
      code: 'rejected_at_deletion',
      message: `${head}, and DMARC p=reject makes receivers reject that mail unless DKIM aligns.${dkimNote}`,
    };
  if (dmarc.policy === 'quarantine')
    return {
      severity: lower('high'),
      code: 'quarantined_at_deletion',
      message: `${head}, and DMARC p=quarantine sends that mail to spam unless DKIM aligns.${dkimNote}`,
    };
  return { severity: 'medium', code: 'spf_permerror_at_deletion', message: `${head}, weakening its protection against spoofing.${dkimNote}` };
}

function rankImpact(check: Finding): Impact[] {
  const impacts: Impact[] = [];
  const { spf, mx, dmarc, dkim, domain } = check;
  const deletion = deletionImpact(check);
  if (deletion) impacts.push(deletion);
  if (check.verdict === 'domain_not_found')
    impacts.push({
      severity: 'high',
      code: 'domain_not_found',
      message: `${domain} does not exist in DNS (NXDOMAIN): confirm with the customer, then dismiss it with a reason or remove the domain.`,
    });
  if (mx.state === 'legacy')
    impacts.push({
      severity: 'critical',
      code: 'inbound_mail_lost',
      message: `All MX hosts of ${domain} are on the legacy service: incoming mail stops at the shutdown.`,
    });
  if (mx.state === 'mixed')
    impacts.push({
      severity: 'high',
      code: 'inbound_mail_partly_lost',
      message: `Some MX hosts of ${domain} are on the legacy service: part of its incoming mail is lost at the shutdown.`,
    });
  if (spf.resultNow === 'permerror') {
    impacts.push({
      severity: 'high',
      code: 'spf_broken_now',
      message: `The SPF of ${domain} already evaluates to permerror: ${spf.errors
        .filter((e) => e.kind !== 'dns')
        .map((e) => e.message)
        .join('; ')}`,
    });
  }
  if (spf.blockedBy.length > 0) {
    impacts.push({
      severity: 'high',
      code: 'reference_in_foreign_record',
      message: `The legacy reference sits in a record ${domain} does not own: ${[...new Set(spf.blockedBy.map((b) => b.name))].join(', ')}.`,
    });
  }
  if (spf.suggestion && spf.suggestion.lookupCount > LIMITS.lookups) {
    impacts.push({
      severity: 'medium',
      code: 'fix_exceeds_lookup_limit',
      message: `The fixed record would need ${spf.suggestion.lookupCount} DNS lookups (limit ${LIMITS.lookups}).`,
    });
  } else if (spf.suggestion && !spf.suggestion.verified) {
    impacts.push({ severity: 'medium', code: 'fix_not_verified', message: `No fix could be proven for ${domain}: ${spf.suggestion.problems.join('; ')}.` });
  }
  if (spf.legacyReferences.length > 0 && spf.legacyReferences.every((r) => !r.live)) {
    impacts.push({
      severity: 'low',
      code: 'dead_legacy_reference',
      message: `${domain} names the legacy record only where no evaluation reaches it; remove it anyway.`,
    });
  }
  if (dkim.legacyCleanup.length > 0) {
    impacts.push({
      severity: 'low',
      code: 'legacy_dkim_selector',
      message: `DKIM selectors of ${domain} still point at the legacy service (${dkim.legacyCleanup.join(', ')}): they dangle after the shutdown.`,
    });
  }
  const strangerClient = spf.clients.find((c) => c.class === 'stranger');
  if (strangerClient?.everyClientMatches && strangerClient.now === 'pass') {
    impacts.push({
      severity: 'info',
      code: 'spf_passes_everyone',
      message: `The SPF of ${domain} passes every client (${strangerClient.reasonNow}): terms after that are never evaluated.`,
    });
  }
  if (spf.errors.some((e) => e.kind === 'dns') || mx.state === 'error' || dmarc.error || dkim.selectors.some((s) => s.error)) {
    impacts.push({ severity: 'info', code: 'incomplete', message: 'DNS did not answer every question; this check is incomplete and will be repeated.' });
  }
  if (dmarc.deprecatedTags.length > 0) {
    impacts.push({
      severity: 'info',
      code: 'dmarc_deprecated_tags',
      message: `The DMARC record uses tags RFC 9989 removed: ${dmarc.deprecatedTags.join(', ')}.`,
    });
  }
  return impacts.sort((a, b) => severityOrder.indexOf(a.severity) - severityOrder.indexOf(b.severity));
}

function instructionsFor(check: Omit<DomainEvaluation, 'instructions'>, ids: Identifiers): { en: string[]; ja: string[] } {
  const en: string[] = [];
  const ja: string[] = [];
  const { domain, mx, spf, dkim } = check;
  const successorMx = ids.successorMxSuffixes.join(', ') || 'the successor service';
  if (mx.state === 'legacy' || mx.state === 'mixed') {
    const legacyHosts = mx.hosts
      .filter((h) => h.side === 'legacy')
      .map((h) => h.exchange)
      .join(', ');
    en.push(`Point the MX records of ${domain} to ${successorMx} (legacy hosts now: ${legacyHosts}).`);
    ja.push(`${domain} の MX レコードを ${successorMx} に向けてください（現在の旧サービスのホスト: ${legacyHosts}）。`);
  }
  const suggestion = spf.suggestion;
  if (suggestion?.verified) {
    for (const r of suggestion.records) {
      en.push(`Replace the SPF record of ${r.name} with: ${r.record}`);
      ja.push(`${r.name} の SPF レコードを次のとおり置き換えてください: ${r.record}`);
    }
  } else if (suggestion && suggestion.drop.length > 0) {
    const drop = suggestion.drop.map((d) => `${d.term} (${d.lookups})`).join(', ');
    en.push(
      `Without the legacy reference the SPF record of ${domain} needs ${suggestion.lookupCount} DNS lookups (limit ${LIMITS.lookups}). Drop or flatten ${drop}, then publish the record without the legacy reference: ${suggestion.records.map((r) => r.record).join(' / ')}`,
    );
    ja.push(
      `旧サービスの参照を除くと ${domain} の SPF は DNS 参照が ${suggestion.lookupCount} 回になり、上限の ${LIMITS.lookups} 回を超えます。${drop} を削除または展開してから、旧サービスの参照を除いたレコードを公開してください: ${suggestion.records.map((r) => r.record).join(' / ')}`,
    );
  } else if (suggestion) {
    en.push(`No fix for the SPF record of ${domain} could be proven (${suggestion.problems.join('; ')}); remove the legacy reference by hand and check again.`);
    ja.push(`${domain} の SPF の修正案を検証できませんでした（${suggestion.problems.join('; ')}）。旧サービスの参照を手作業で削除し、再確認してください。`);
  }
  for (const b of spf.blockedBy) {
    en.push(
      `${b.name}, which ${domain} includes, still references the legacy record (${b.term}); ask its owner (${b.owner}) to remove it, or stop including ${b.name}.`,
    );
    ja.push(
      `${domain} が参照している ${b.name} のレコードが旧サービスを参照しています（${b.term}）。管理者（${b.owner}）に削除を依頼するか、${b.name} の参照をやめてください。`,
    );
  }
  for (const alias of new Set(spf.legacyReferences.flatMap((r) => (r.holder === domain || r.holder.endsWith(`.${domain}`) ? r.aliases : [])))) {
    en.push(`Delete the CNAME ${alias}: it points at the legacy record and dangles once that is deleted.`);
    ja.push(`CNAME ${alias} を削除してください。旧サービスのレコードを指しており、その削除後は参照先がなくなります。`);
  }
  if (spf.state === 'legacy_referenced' && spf.records.length > 1) {
    en.push(`${domain} publishes ${spf.records.length} SPF records; merge them into one without the legacy include.`);
    ja.push(`${domain} には SPF レコードが ${spf.records.length} 件あります。旧サービスの include を除いて 1 件にまとめてください。`);
  }
  for (const name of dkim.legacyCleanup) {
    en.push(`Remove the DKIM selector ${name}: it points at the legacy service's key.`);
    ja.push(`DKIM セレクタ ${name} を削除してください。旧サービスの鍵を指しています。`);
  }
  const brokenNow = spf.resultNow === 'permerror';
  if (brokenNow && spf.state !== 'legacy_referenced') {
    const why = spf.errors
      .filter((e) => e.kind !== 'dns')
      .map((e) => e.message)
      .join('; ');
    en.push(
      `The SPF record of ${domain} already evaluates to permerror (${why}). The legacy service is not the cause, but receivers already ignore or reject it: fix it.`,
    );
    ja.push(`${domain} の SPF は現在すでに permerror です（${why}）。旧サービスが原因ではありませんが、受信側で無効と扱われているため修正してください。`);
  }
  if (check.verdict === 'domain_not_found') {
    en.push(`${domain} does not exist in DNS. Confirm with the customer; a manager can dismiss it with a reason, or remove the domain.`);
    ja.push(`${domain} は DNS に存在しません。お客様に確認のうえ、管理者が理由を付けて確認済みにするか、ドメインを削除してください。`);
  }
  if (check.verdict === 'unknown') {
    en.push(`DNS did not answer for ${domain}; nothing is concluded and the domain will be checked again.`);
    ja.push(`${domain} について DNS の応答が得られなかったため、判定を保留し再確認します。`);
  }
  if (check.verdict === 'clean' && !brokenNow && dkim.legacyCleanup.length === 0) {
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

/** Everything the product knows about one domain: MX, SPF, DMARC, DKIM, verdict, impact and guidance. */
export async function evaluateDomain(domainName: string, ids: Identifiers, sweepDns: DnsLookup, options: CheckOptions = {}): Promise<DomainEvaluation> {
  const started = Date.now();
  const domain = normalizeName(domainName);
  const deadline = withDeadline(sweepDns, started + (options.budgetMs ?? 20_000));
  try {
    return await checkWithin(domain, ids, memoized(deadline), started, options, evaluationCacheOf(sweepDns));
  } finally {
    deadline.close();
  }
}

/** A domain that publishes no SPF record (or whose lookup failed): nothing to evaluate. */
function withoutRecord(analysis: SpfAnalysis): DeletionAnalysis {
  const result: SpfResult = analysis.errors.some((e) => e.kind === 'dns') ? 'temperror' : 'none';
  return {
    clients: [],
    resultNow: result,
    resultIfLegacyDeleted: result,
    breaksAtDeletion: false,
    legacyReferences: analysis.legacyReferences,
    evaluationErrors: [],
    lookupsNow: analysis.lookupCount,
    voidLookupsNow: analysis.voidLookupCount,
    suggestion: null,
    blockedBy: [],
  };
}

type SpfPart = { analysis: SpfAnalysis; deletion: DeletionAnalysis };

/**
 * The domain's SPF, read and evaluated. Most customers publish the provider's template record: a
 * record whose evaluation does not depend on the domain (see isTemplateRecord) is analysed once per
 * program and sweep, and every other domain publishing it gets that analysis with its own name in it
 * (after its own look-ups: its record, and whether the domain itself aliases the legacy record).
 */
async function analyzeSpfOf(domain: string, dns: DnsLookup, ids: Identifiers, now: Date, cache: EvaluationCache | undefined): Promise<SpfPart> {
  const aliases = new Aliases(dns, ids.legacySpfIncludes.map(normalizeName));
  const [found, apex] = await Promise.all([lookupSpfRecord(dns, domain), aliases.legacyChain(domain)]);
  const key =
    cache && found.status === 'record' && apex === null && isTemplateRecord(found.text)
      ? `${JSON.stringify([ids.legacySpfIncludes, ids.successorSpfIncludes])} ${found.text}`
      : undefined;
  const kept = key ? cache!.recall(key, domain, rebaseSpfPart) : undefined;
  if (kept) return kept;
  const analysis = await analyzeSpf(domain, dns, aliases);
  const deletion = analysis.records.length === 0 ? withoutRecord(analysis) : await analyzeDeletion(domain, dns, aliases, analysis, ids, now, cache);
  const part = { analysis, deletion };
  // Only an analysis every answer of which came (no DNS failure) and that expanded no macro is kept.
  const complete = analysis.dynamicTerms.length === 0 && !analysis.errors.some((e) => e.kind === 'dns') && !JSON.stringify(deletion).includes('temperror');
  if (key && complete) cache!.keep(key, domain, part);
  return part;
}

/** One domain's SPF analysis as another domain's publishing the same template record. */
function rebaseSpfPart({ analysis, deletion }: SpfPart, from: string, to: string): SpfPart {
  const name = (n: string) => (n === from ? to : n);
  const ref = (r: LegacyReference): LegacyReference => ({ ...r, path: rebasePath(r.path, from, to), holder: name(r.holder) });
  const finding = (f: SpfFinding): SpfFinding => ({ ...f, path: rebasePath(f.path, from, to), message: rebaseText(f.message, from, to) });
  return {
    analysis: { ...analysis, legacyReferences: analysis.legacyReferences.map(ref), errors: analysis.errors.map(finding) },
    deletion: {
      ...deletion,
      clients: deletion.clients.map((c) => ({
        ...c,
        sender: c.sender.endsWith(`@${from}`) ? `${c.sender.slice(0, -from.length)}${to}` : c.sender,
        helo: name(c.helo),
        reasonNow: rebaseText(c.reasonNow, from, to),
        reasonAfterDeletion: rebaseText(c.reasonAfterDeletion, from, to),
      })),
      legacyReferences: deletion.legacyReferences.map(ref),
      evaluationErrors: deletion.evaluationErrors.map(finding),
      suggestion: deletion.suggestion && { ...deletion.suggestion, records: deletion.suggestion.records.map((r) => ({ ...r, name: name(r.name) })) },
    },
  };
}

async function checkWithin(
  domain: string,
  ids: Identifiers,
  dns: DnsLookup,
  started: number,
  options: CheckOptions,
  cache: EvaluationCache | undefined,
): Promise<DomainEvaluation> {
  const now = options.now?.() ?? new Date();
  const [mx, { analysis, deletion }, dkim] = await Promise.all([
    classifyMx(domain, dns, ids.legacyMxSuffixes, ids.successorMxSuffixes),
    analyzeSpfOf(domain, dns, ids, now, cache),
    inspectDkim(domain, dns, ids),
  ]);
  const dmarc = await discoverDmarc(domain, dns, mx.state !== 'nxdomain');
  // The evaluations decide: "permerror now" is what evaluating the record gives, not a static count.
  // The static reading adds detail (a loop, the count past the limit) only to a permerror the evaluation found.
  const detail =
    deletion.resultNow === 'permerror' ? analysis.errors.filter((e) => e.kind !== 'dns' && !deletion.evaluationErrors.some((d) => d.kind === e.kind)) : [];
  const errors = [...deletion.evaluationErrors, ...detail, ...analysis.errors.filter((e) => e.kind === 'dns')];
  const references = deletion.legacyReferences;
  const state = spfStateOf({ records: analysis.records, legacyReferences: references, errors });
  // Past the limit the evaluation stops at the 11th lookup; the static count says how many it needs.
  const lookupCount = deletion.lookupsNow > LIMITS.lookups ? Math.max(analysis.lookupCount, deletion.lookupsNow) : deletion.lookupsNow;
  const suggestion = deletion.suggestion;
  const own = suggestion?.verified ? suggestion.records.find((r) => r.name === domain) : undefined;
  const base: Finding = {
    domain,
    checkedAt: now.toISOString(),
    durationMs: Date.now() - started,
    verdict: verdictOf(mx.state, state),
    mx,
    spf: {
      state,
      records: analysis.records,
      lookupCount,
      voidLookupCount: deletion.voidLookupsNow,
      legacyReferences: references,
      errors,
      dynamicTerms: analysis.dynamicTerms,
      resultNow: deletion.resultNow,
      resultIfLegacyDeleted: deletion.resultIfLegacyDeleted,
      breaksAtDeletion: deletion.breaksAtDeletion,
      clients: deletion.clients,
      suggestedRecord: own?.record ?? null,
      suggestedLookupCount: suggestion ? suggestion.lookupCount : null,
      suggestion,
      blockedBy: deletion.blockedBy,
    },
    dmarc,
    dkim,
  };
  const withImpact = { ...base, impact: rankImpact(base) };
  return { ...withImpact, instructions: instructionsFor(withImpact, ids) };
}
