import type { DnsLookup } from '../resolver.ts';
import { analyzeSpf, type LegacyReference, type SpfAnalysis, type SpfFinding } from './analyze.ts';
import { LIMITS, lookupSpfRecord, type CheckHostResult, type SpfResult } from './check-host.ts';
import {
  asIpv6,
  evaluate,
  familyBlind,
  findStranger,
  sameForBothFamilies,
  sampleSender,
  strength,
  worstForStranger,
  type Client,
  type ClientClass,
  type Evaluated,
  type EvaluationCache,
} from './clients.ts';
import { normalizeName, withoutLegacyRecords, withRecords, type Aliases } from './worlds.ts';

/** What one client class gets from the domain's SPF today and once the legacy record is deleted. */
export interface ClientOutcome extends Client {
  now: SpfResult;
  afterDeletion: SpfResult;
  /** Why, in words (the deciding term, the limit, the missing record). */
  reasonNow: string;
  reasonAfterDeletion: string;
  /** A stranger still matched a client-dependent term: no candidate avoided every term. */
  matchedSomething?: boolean;
  /** The deciding term matches every client, so nothing after it is ever evaluated. */
  everyClientMatches?: boolean;
}

export interface SpfSuggestion {
  /** The records to publish, one per name (usually the checked domain only). */
  records: { name: string; current: string; record: string }[];
  /** Every check below held: the fix may be shown. */
  verified: boolean;
  /** Lookups the fixed record needs, counted past the limit. */
  lookupCount: number;
  /** Each client class evaluated with the fix in the deleted world. */
  results: { class: ClientClass; ip: string; result: SpfResult }[];
  /** Why the fix is not verified. */
  problems: string[];
  /** Over the lookup limit: terms to drop or flatten, costliest first, enough to get within it. */
  drop: { term: string; lookups: number }[];
}

export interface DeletionAnalysis {
  clients: ClientOutcome[];
  resultNow: SpfResult;
  resultIfLegacyDeleted: SpfResult;
  /** Some client not in error today gets permerror once the legacy record is deleted. */
  breaksAtDeletion: boolean;
  legacyReferences: LegacyReference[];
  /** Findings of the evaluations (a permerror today, a temperror). */
  evaluationErrors: SpfFinding[];
  lookupsNow: number;
  voidLookupsNow: number;
  suggestion: SpfSuggestion | null;
  /** References in records the customer does not own: those records' owners must change them. */
  blockedBy: { name: string; owner: string; term: string }[];
}

export interface SpfSides {
  legacySpfIncludes: string[];
  successorSpfIncludes: string[];
}

const stepKey = (path: string[], term: string) => `${path.join(' ')}|${term.toLowerCase()}`;
const recordPathOf = (ref: LegacyReference) => ref.path.slice(0, ref.path.length - ref.aliases.length);

/** The kind of finding a permerror reason names. */
function findingKind(reason: string): SpfFinding['kind'] {
  if (/DNS-querying terms/.test(reason)) return 'lookup_limit';
  if (/void lookups/.test(reason)) return 'void_limit';
  if (/MX records \(limit/.test(reason)) return 'mx_limit';
  if (/publishes \d+ SPF records/.test(reason)) return 'multiple_records';
  if (/no SPF record/.test(reason)) return 'missing_include';
  return 'syntax';
}

/**
 * Evaluates the domain's SPF for every client class, today and in the world without the legacy
 * records, and derives from those evaluations (not from a static reading) which legacy references
 * are live, whether the deletion breaks anyone, and a fix proven by evaluating it.
 */
export async function analyzeDeletion(
  domain: string,
  dns: DnsLookup,
  aliases: Aliases,
  analysis: SpfAnalysis,
  sides: SpfSides,
  now: Date,
  cache?: EvaluationCache,
): Promise<DeletionAnalysis> {
  const deleted = withoutLegacyRecords(aliases);
  // The same record text evaluates the same for every domain publishing it (see EvaluationCache).
  const reuse =
    cache && analysis.records.length === 1 && !analysis.legacyReferences.some((r) => r.term.startsWith('CNAME '))
      ? { cache, world: 'today', record: analysis.records[0]! }
      : undefined;
  const stranger = await findStranger(domain, dns, 4, now, reuse);
  const stranger6 = familyBlind(stranger) ? asIpv6(stranger) : await findStranger(domain, dns, 6, now, reuse);
  const clients: Client[] = [stranger.client, stranger6.client];
  const today: Evaluated[] = [stranger.result, stranger6.result];
  // The successor's servers and the legacy range are asked about where the legacy records matter at all
  // (a reference in the records, or an answer some evaluation used that goes with the deletion).
  const involved = analysis.legacyReferences.length > 0 || (await touchesLegacy(today, aliases));
  if (involved) {
    const sender = `postmaster@${domain}`;
    const [successorIp, legacyIp] = await Promise.all([sampleSender(dns, sides.successorSpfIncludes), sampleSender(dns, sides.legacySpfIncludes)]);
    const senders: Client[] = [
      ...(successorIp ? [{ class: 'successor' as const, ip: successorIp, sender, helo: domain }] : []),
      ...(legacyIp ? [{ class: 'legacy' as const, ip: legacyIp, sender, helo: domain }] : []),
    ];
    clients.push(...senders);
    today.push(...(await Promise.all(senders.map((c) => evaluate(c, domain, dns, now, reuse)))));
  }
  // Where no answer an evaluation used goes with the deletion, every evaluation runs the same after it.
  const after = involved ? await Promise.all(clients.map((c, i) => afterDeletion(c, today[i]!, domain, aliases, deleted, now))) : today;
  const outcomes: ClientOutcome[] = clients.map((c, i) => ({
    ...c,
    now: today[i]!.result,
    afterDeletion: after[i]!.result,
    reasonNow: today[i]!.reason,
    reasonAfterDeletion: after[i]!.reason,
    ...(c.class === 'stranger' || c.class === 'stranger_ipv6'
      ? {
          matchedSomething: (c.class === 'stranger' ? stranger : stranger6).matched,
          everyClientMatches: (c.class === 'stranger' ? stranger : stranger6).everyClient,
        }
      : {}),
  }));

  const legacyReferences = involved ? await referencesReached(analysis.legacyReferences, today, aliases) : [];
  const strangers = [0, 1].map((i) => today[i]!);
  const resultNow = worstForStranger(strangers.map((r) => r.result));
  const resultIfLegacyDeleted = worstForStranger([after[0]!.result, after[1]!.result]);
  const breaksAtDeletion = outcomes.some((o) => o.class !== 'legacy' && o.now !== 'permerror' && o.afterDeletion === 'permerror');
  const worst = strangers.find((r) => r.result === resultNow)!;
  const evaluationErrors: SpfFinding[] =
    resultNow === 'permerror'
      ? [{ kind: findingKind(worst.reason), path: [domain], message: worst.reason }]
      : resultNow === 'temperror'
        ? [{ kind: 'dns', path: [domain], message: worst.reason }]
        : [];

  const { suggestion, blockedBy } =
    legacyReferences.length === 0
      ? { suggestion: null, blockedBy: [] }
      : await suggestFix(domain, dns, aliases, deleted, legacyReferences, sides, outcomes, resultNow, now, cache);
  return {
    clients: outcomes,
    resultNow,
    resultIfLegacyDeleted,
    breaksAtDeletion,
    legacyReferences,
    evaluationErrors,
    lookupsNow: worst.lookups,
    voidLookupsNow: worst.voidLookups,
    suggestion,
    blockedBy,
  };
}

/** Whether any evaluation used an answer that goes with the deletion. */
async function touchesLegacy(evaluations: Evaluated[], aliases: Aliases): Promise<boolean> {
  const asked = new Map(evaluations.flatMap((e) => e.answered.map((q) => [q.name, q.type] as const)));
  const chains = await Promise.all([...asked].map(([name, type]) => aliases.legacyChain(name, type)));
  return chains.some((chain) => chain !== null);
}

/**
 * What the client gets in the deleted world. Deleting records only empties answers, and an
 * evaluation is a pure function of its answers: it runs exactly as today up to the first answer
 * that goes with the deletion. No such answer: today's result. The first such answer was the
 * record of an include or redirect target: that lookup now finds no record, which is permerror
 * (RFC 7208 §5.2, §6.1). Anything else (an alias at an a/mx/exists target, the domain itself, a
 * DNS failure on the way): evaluate the deleted world in full.
 */
async function afterDeletion(client: Client, today: Evaluated, domain: string, aliases: Aliases, deleted: DnsLookup, now: Date): Promise<CheckHostResult> {
  for (const q of today.answered) {
    const chain = await aliases.legacyChain(q.name, q.type);
    if (chain === null) continue;
    const step =
      q.type === 'TXT' && q.name !== domain && !('error' in chain)
        ? today.trace?.find((s) => s.outcome !== 'error' && s.target !== undefined && normalizeName(s.target) === q.name)
        : undefined;
    if (!step) return evaluate(client, domain, deleted, now);
    const reason = step.term.toLowerCase().startsWith('redirect=') ? `${step.term}: no SPF record there` : `${step.term}: ${step.target} has no SPF record`;
    return { result: 'permerror', reason, lookups: today.lookups, voidLookups: today.voidLookups };
  }
  return today;
}

/**
 * The references found by reading the records, each live when some evaluation today reached its
 * term; and the ones only an evaluation can find (a target built from the sender or the client,
 * `include:%{l}._spf.example.jp` under a wildcard CNAME), live by construction.
 */
async function referencesReached(found: LegacyReference[], evaluations: CheckHostResult[], aliases: Aliases): Promise<LegacyReference[]> {
  // Only include and redirect terms name a legacy record; a term stopped by the lookup limit was never
  // evaluated: only steps that went on (they have a target) count as reached.
  const steps = evaluations.flatMap((e) => (e.trace ?? []).filter((s) => s.target !== undefined));
  const reached = new Set(steps.map((s) => stepKey(s.path, s.term)));
  // A domain that is itself an alias of the legacy record (no record path of its own) is read by every evaluation.
  const refs = found.map((r) => ({ ...r, live: recordPathOf(r).length === 0 || reached.has(stepKey(recordPathOf(r), r.term)) }));
  const known = new Set(refs.map((r) => stepKey(recordPathOf(r), r.term)));
  for (const step of steps) {
    if (known.has(stepKey(step.path, step.term))) continue;
    const chain = await aliases.legacyChain(step.target!);
    if (chain === null || 'error' in chain) continue;
    known.add(stepKey(step.path, step.term));
    const names = chain.slice(0, -1);
    refs.push({
      term: step.term,
      path: [...step.path, ...names],
      holder: step.path[step.path.length - 1]!,
      aliases: names,
      target: chain[chain.length - 1]!,
      live: true,
    });
  }
  return refs;
}

/** Who answers for a record outside the customer's domain: its name without leading `_` labels. */
const ownerOf = (name: string) => name.replace(/^(_[^.]*\.)+/, '');

const ALL_FOR: Partial<Record<SpfResult, string>> = { fail: '-all', softfail: '~all', neutral: '?all', none: '?all', pass: '?all' };

/**
 * One record rewritten without its legacy terms: the successor's includes (default `+`) where the
 * first legacy include stood, or before `all`, never after it; every other term kept in order. A
 * legacy `redirect=` supplied the policy for everyone it did not match: it becomes an explicit
 * `all` with today's result for a stranger, so no stranger gets a weaker result than today.
 */
export function rewriteRecord(text: string, legacyTerms: ReadonlySet<string>, successorIncludes: string[], strangerToday: SpfResult): string {
  const tokens = text.split(' ').filter(Boolean);
  const isAll = (t: string) => /^[+\-~?]?all$/i.test(t);
  const includesOf = (t: string) => /^\+?include:(.+)$/i.exec(t)?.[1];
  const hasAll = tokens.some(isAll);
  const present = new Set(
    tokens
      .slice(0, hasAll ? tokens.findIndex(isAll) : tokens.length)
      .filter((t) => !legacyTerms.has(t.toLowerCase()))
      .map(includesOf)
      .filter((t): t is string => t !== undefined)
      .map(normalizeName),
  );
  const successors = successorIncludes
    .map(normalizeName)
    .filter((s) => !present.has(s))
    .map((s) => `include:${s}`);
  const out: string[] = [];
  let placed = false;
  let droppedRedirect = false;
  for (const token of tokens) {
    if (legacyTerms.has(token.toLowerCase())) {
      if (/^redirect=/i.test(token)) droppedRedirect = true;
      else if (!placed) {
        out.push(...successors);
        placed = true;
      }
      continue;
    }
    if (isAll(token) && !placed) {
      out.push(...successors);
      placed = true;
    }
    out.push(token);
  }
  if (!placed) {
    // Mechanisms go before the modifiers left (exp=, unknown ones); they may stand anywhere.
    const firstModifier = out.findIndex((t, i) => i > 0 && /^[a-z][a-z0-9_.-]*=/i.test(t));
    const at = firstModifier === -1 ? out.length : firstModifier;
    const all = droppedRedirect && !hasAll ? [ALL_FOR[strangerToday] ?? '~all'] : [];
    out.splice(at, 0, ...successors, ...all);
  }
  return out.join(' ');
}

async function suggestFix(
  domain: string,
  dns: DnsLookup,
  aliases: Aliases,
  deleted: DnsLookup,
  refs: LegacyReference[],
  sides: SpfSides,
  today: ClientOutcome[],
  strangerToday: SpfResult,
  now: Date,
  cache: EvaluationCache | undefined,
): Promise<{ suggestion: SpfSuggestion | null; blockedBy: DeletionAnalysis['blockedBy'] }> {
  const owned = (name: string) => name === domain || name.endsWith(`.${domain}`);
  const blockedBy = refs.filter((r) => !owned(r.holder)).map((r) => ({ name: r.holder, owner: ownerOf(r.holder), term: r.term }));
  // No single-record fix when a reference sits in someone else's record: that record must change.
  if (blockedBy.length > 0) return { suggestion: null, blockedBy };

  const problems: string[] = [];
  const records: SpfSuggestion['records'] = [];
  for (const holder of [...new Set(refs.map((r) => r.holder))]) {
    const terms = new Set(refs.filter((r) => r.holder === holder).map((r) => r.term.toLowerCase()));
    const found = await lookupSpfRecord(dns, holder);
    const texts = found.status === 'record' ? [found.text] : found.status === 'permerror' ? found.texts : [];
    if (texts.length !== 1) {
      problems.push(`${holder} publishes ${texts.length} SPF records: merge them into one first`);
      continue;
    }
    // The checked domain is itself a CNAME to the legacy record: it needs a record of its own.
    const current = texts[0]!;
    const aliased = [...terms].some((t) => t.startsWith('cname '));
    const record = aliased
      ? ['v=spf1', ...sides.successorSpfIncludes.map((s) => `include:${normalizeName(s)}`), ALL_FOR[strangerToday] ?? '~all'].join(' ')
      : rewriteRecord(current, terms, sides.successorSpfIncludes, strangerToday);
    records.push({ name: holder, current, record });
  }
  if (records.length === 0) return { suggestion: null, blockedBy };

  const fixed = withRecords(deleted, new Map(records.map((r) => [r.name, r.record])));
  // A fix of the domain's own record alone is that record evaluated in the deleted world.
  const reuse =
    cache && records.length === 1 && records[0]!.name === domain
      ? { cache, world: `deleted ${aliases.legacy.join(',')}`, record: records[0]!.record }
      : undefined;
  // The legacy range is left out: its servers stop sending at the shutdown, fix or no fix.
  const [stranger, ...others] = today.filter((c) => c.class !== 'legacy' && c.class !== 'stranger_ipv6');
  const strangerFixed = await evaluate(stranger!, domain, fixed, now, reuse);
  const v6 = today.find((c) => c.class === 'stranger_ipv6')!;
  const [v6Fixed, ...othersFixed] = await Promise.all([
    sameForBothFamilies(strangerFixed) ? strangerFixed : evaluate(v6, domain, fixed, now, reuse),
    ...others.map((c) => evaluate(c, domain, fixed, now, reuse)),
  ]);
  const results = [stranger!, v6, ...others].map((c, i) => ({ class: c.class, ip: c.ip, result: [strangerFixed, v6Fixed!, ...othersFixed][i]!.result }));
  for (const r of results) {
    const before = today.find((c) => c.class === r.class)!;
    if (r.result === 'permerror' || r.result === 'temperror') problems.push(`${r.class} (${r.ip}) would get ${r.result}`);
    else if (r.class === 'successor' && r.result !== 'pass') problems.push(`the successor's servers (${r.ip}) would get ${r.result}, not pass`);
    else if ((r.class === 'stranger' || r.class === 'stranger_ipv6') && strength(r.result) < strength(before.now))
      problems.push(`a stranger (${r.ip}) would get ${r.result}, weaker than today's ${before.now}`);
  }
  // Within the limit the evaluation's count is exact; past it, the static reading counts every lookup and what each term costs.
  const overLimit = strangerFixed.lookups > LIMITS.lookups || v6Fixed!.lookups > LIMITS.lookups;
  const static_ = overLimit ? await analyzeSpf(domain, fixed, aliases) : null;
  const lookupCount = static_ ? Math.max(static_.lookupCount, LIMITS.lookups + 1) : Math.max(strangerFixed.lookups, v6Fixed!.lookups);
  const drop: SpfSuggestion['drop'] = [];
  if (static_) {
    problems.push(`the fixed record needs ${lookupCount} DNS lookups (limit ${LIMITS.lookups})`);
    const successors = new Set(sides.successorSpfIncludes.map((s) => `include:${normalizeName(s)}`));
    let over = lookupCount - LIMITS.lookups;
    for (const cost of [...static_.termCosts].filter((c) => !successors.has(c.term.toLowerCase())).sort((a, b) => b.lookups - a.lookups)) {
      if (over <= 0) break;
      drop.push(cost);
      over -= cost.lookups;
    }
  }
  return { suggestion: { records, verified: problems.length === 0, lookupCount, results, problems, drop }, blockedBy };
}
