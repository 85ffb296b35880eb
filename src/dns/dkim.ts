import type { DnsLookup } from './resolver.ts';
import { isUnder, normalizeName } from './spf/worlds.ts';

export type DkimSide = 'legacy' | 'successor';

export interface DkimSelectorFinding {
  selector: string;
  side: DkimSide;
  /** `<selector>._domainkey.<domain>` */
  name: string;
  /** Where the selector's CNAME points, if it is one. */
  cnameTarget: string | null;
  /** Which provider's zone that CNAME points into (null: not a CNAME). */
  pointsInto: DkimSide | 'other' | null;
  /** A key record with a non-empty `p=` answers at the name (through the CNAME if any). */
  keyPublished: boolean;
  error?: string;
}

export interface DkimFinding {
  selectors: DkimSelectorFinding[];
  /** Selector names whose CNAME still points into the legacy provider's zone: dangling after the shutdown. */
  legacyCleanup: string[];
  /** A successor selector publishes a key: aligned DKIM can pass DMARC even when SPF permerrors. */
  successorKeyPublished: boolean;
}

export interface DkimIdentifiers {
  legacyDkimSelectors?: string[] | undefined;
  legacyDkimTargets?: string[] | undefined;
  successorDkimSelectors?: string[] | undefined;
  successorDkimTargets?: string[] | undefined;
}

/** A DKIM key record (RFC 6376 §3.6.1) with a key: `p=` present and not empty (empty means revoked). */
const hasKey = (text: string) => text.split(';').some((tag) => /^\s*p\s*=\s*\S+/.test(tag));

/**
 * Looks up the program's DKIM selectors under the domain. A hosted-mail service publishes its
 * customers' keys as `<selector>._domainkey.<domain> CNAME <selector>.<provider zone>`.
 */
export async function inspectDkim(domain: string, dns: DnsLookup, ids: DkimIdentifiers): Promise<DkimFinding> {
  const wanted: { selector: string; side: DkimSide }[] = [
    ...(ids.legacyDkimSelectors ?? []).map((selector) => ({ selector, side: 'legacy' as const })),
    ...(ids.successorDkimSelectors ?? []).map((selector) => ({ selector, side: 'successor' as const })),
  ];
  const legacyTargets = (ids.legacyDkimTargets ?? []).map(normalizeName);
  const successorTargets = (ids.successorDkimTargets ?? []).map(normalizeName);
  const selectors = await Promise.all(
    wanted.map(async ({ selector, side }): Promise<DkimSelectorFinding> => {
      const name = `${selector}._domainkey.${domain}`;
      // The TXT answer says which CNAME it came through where the lookup reports chains.
      const [txt, cname] = await Promise.all([dns.query('TXT', name), dns.reportsAliases ? undefined : dns.query('CNAME', name)]);
      const firstHop = cname ? (cname.status === 'ok' ? cname.records[0]! : undefined) : txt.status !== 'error' ? txt.aliases?.[0] : undefined;
      const cnameTarget = firstHop === undefined ? null : normalizeName(firstHop);
      const pointsInto =
        cnameTarget === null ? null : isUnder(cnameTarget, legacyTargets) ? 'legacy' : isUnder(cnameTarget, successorTargets) ? 'successor' : 'other';
      const keyPublished = txt.status === 'ok' && txt.records.some((strings) => hasKey(strings.join('')));
      const failed = [cname, txt].find((a) => a?.status === 'error');
      return {
        selector,
        side,
        name,
        cnameTarget,
        pointsInto,
        keyPublished,
        ...(failed?.status === 'error' ? { error: `DNS ${failed.error} for ${name}` } : {}),
      };
    }),
  );
  return {
    selectors,
    legacyCleanup: selectors.filter((s) => s.pointsInto === 'legacy').map((s) => s.name),
    successorKeyPublished: selectors.some((s) => s.side === 'successor' && s.keyPublished && s.pointsInto !== 'legacy'),
  };
}
