import type { DomainEvaluation } from '../dns/evaluate-domain.ts';

/*
 * What a customer must change, per domain, read off the latest check: expected against actual for MX,
 * SPF, DMARC and DKIM, each done, to do, or unknown (no determined check yet). The notices and the
 * self-check page both say it from this one model; the words are theirs.
 */

export type ActionState = 'done' | 'todo' | 'unknown';

/** The program's successor identifiers: what "expected" means. */
export interface Expected {
  successorMxHostSuffixes: string[];
  successorDkimSelectors: string[];
}

/** One domain as its latest check found it, in the shape the domain service returns. */
export interface CheckedDomain {
  name: string;
  displayName: string;
  latestVerdict: string | null;
  lastCheckedAt: string | null;
  latestCheck: { checkedAt: string; result: Record<string, unknown> } | null;
}

export interface DomainActions {
  name: string;
  displayName: string;
  verdict: string | null;
  checkedAt: string | null;
  /** Every item done: nothing left for this domain. */
  done: boolean;
  mx: { state: ActionState; expected: string[]; actual: { exchange: string; priority: number; side: string }[] };
  spf: {
    state: ActionState;
    /** The SPF records published today. */
    actual: string[];
    /** The records to publish instead, proven by evaluating them in the world without the legacy record. */
    publish: { name: string; current: string; record: string; terms: TermChange[] }[];
    /** The reference sits in a record someone else publishes: whom to ask. */
    askOwner: { name: string; owner: string; term: string }[];
    resultAfterDeletion: string | null;
  };
  dmarc: { state: ActionState; policy: string | null; record: string | null };
  dkim: {
    state: ActionState;
    /** Selectors still pointing at the legacy service: to delete. */
    remove: string[];
    /** The successor's selectors, and whether each publishes a key. */
    successor: { selector: string; name: string; keyPublished: boolean }[];
  };
  /** The engine's step-by-step instructions, in both languages. */
  instructions: { en: string[]; ja: string[] };
}

/** One term of an SPF record compared with the record to publish: kept, removed or added. */
export interface TermChange {
  term: string;
  change: 'kept' | 'removed' | 'added';
}

/** The terms of `current` and `next` in order, each kept, removed or added (a longest common subsequence). */
export function diffTerms(current: string, next: string): TermChange[] {
  const a = current.trim().split(/\s+/).filter(Boolean);
  const b = next.trim().split(/\s+/).filter(Boolean);
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const out: TermChange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ term: a[i++]!, change: 'kept' });
      j++;
    } else if (j < b.length && (i === a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      out.push({ term: b[j++]!, change: 'added' });
    } else {
      out.push({ term: a[i++]!, change: 'removed' });
    }
  }
  return out;
}

const UNDETERMINED = new Set(['unknown', null]);

/** What the customer must change for one domain, from its latest check. */
export function domainActions(domain: CheckedDomain, expected: Expected): DomainActions {
  const evaluation = domain.latestCheck?.result as DomainEvaluation | undefined;
  const unknown = !evaluation || UNDETERMINED.has(domain.latestVerdict);
  const base = {
    name: domain.name,
    displayName: domain.displayName,
    verdict: domain.latestVerdict,
    checkedAt: domain.lastCheckedAt,
    instructions: evaluation?.instructions ?? { en: [], ja: [] },
  };
  const successorDkim = (evaluation?.dkim?.selectors ?? []).filter((s) => s.side === 'successor');
  const expectedDkim = expected.successorDkimSelectors.map((selector) => {
    const found = successorDkim.find((s) => s.selector === selector);
    return { selector, name: found?.name ?? `${selector}._domainkey.${domain.name}`, keyPublished: found?.keyPublished ?? false };
  });
  if (!evaluation) {
    return {
      ...base,
      done: false,
      mx: { state: 'unknown', expected: expected.successorMxHostSuffixes, actual: [] },
      spf: { state: 'unknown', actual: [], publish: [], askOwner: [], resultAfterDeletion: null },
      dmarc: { state: 'unknown', policy: null, record: null },
      dkim: { state: 'unknown', remove: [], successor: expectedDkim },
    };
  }
  const { mx, spf, dmarc, dkim } = evaluation;
  const state = (todo: boolean, error: boolean): ActionState => (unknown || error ? 'unknown' : todo ? 'todo' : 'done');
  const mxState = state(mx.state === 'legacy' || mx.state === 'mixed', mx.state === 'error');
  const spfState = state(spf.state === 'legacy_referenced' || spf.breaksAtDeletion, spf.state === 'error');
  // DMARC itself needs no change; it decides what a broken SPF costs. To do while mail the successor
  // sends would fail it after the deletion: SPF breaks, the policy enforces, and no successor DKIM key.
  const enforcing = dmarc.policy === 'reject' || dmarc.policy === 'quarantine';
  const dmarcState = state(spf.breaksAtDeletion && enforcing && !dkim.successorKeyPublished, Boolean(dmarc.error));
  const dkimState = state(
    dkim.legacyCleanup.length > 0,
    dkim.selectors.some((s) => s.error),
  );
  const publish = spf.suggestion?.verified ? spf.suggestion.records.map((r) => ({ ...r, terms: diffTerms(r.current, r.record) })) : [];
  return {
    ...base,
    done: domain.latestVerdict === 'clean' && [mxState, spfState, dmarcState, dkimState].every((s) => s === 'done'),
    mx: { state: mxState, expected: expected.successorMxHostSuffixes, actual: mx.hosts },
    spf: { state: spfState, actual: spf.records, publish, askOwner: spf.blockedBy ?? [], resultAfterDeletion: spf.resultIfLegacyDeleted },
    dmarc: { state: dmarcState, policy: dmarc.policy ?? null, record: dmarc.record ?? null },
    dkim: { state: dkimState, remove: dkim.legacyCleanup, successor: expectedDkim },
  };
}
