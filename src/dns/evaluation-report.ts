import { styleText } from 'node:util';
import type { DomainEvaluation } from './evaluate-domain.ts';

const verdictColour: Record<string, Parameters<typeof styleText>[0]> = {
  clean: 'green',
  unknown: 'yellow',
  needs_spf_cleanup: 'red',
  needs_mx_change: 'red',
  needs_mx_and_spf: 'red',
  domain_not_found: 'red',
};

/** A domain check as a readable tree for a terminal (colour only when `colour`). */
export function formatEvaluation(check: DomainEvaluation, colour: boolean): string {
  const paint = (style: Parameters<typeof styleText>[0], text: string) => (colour ? styleText(style, text) : text);
  const lines = [`${paint('bold', check.domain)}  ${paint(verdictColour[check.verdict] ?? 'white', check.verdict)}`];
  const add = (label: string, text: string) => lines.push(`  ${label.padEnd(6)}${text}`);
  const more = (text: string) => lines.push(`        ${text}`);
  const { mx, spf, dmarc } = check;
  add('MX', `${mx.state}${mx.error ? ` (${mx.error})` : ''}`);
  for (const h of mx.hosts) more(`${h.priority} ${h.exchange} [${h.side}]`);
  add('SPF', `${spf.state}, ${spf.lookupCount} lookups, ${spf.voidLookupCount} void`);
  for (const r of spf.records) more(r);
  for (const ref of spf.legacyReferences) more(`legacy: ${ref.term} in ${ref.path.join(' → ')}${ref.live ? '' : ' (never evaluated)'}`);
  for (const e of spf.errors) more(`${e.kind}: ${e.message}`);
  more(`today ${spf.resultNow}, if the legacy record is deleted: ${spf.resultIfLegacyDeleted}`);
  for (const c of spf.clients) more(`  ${c.class.padEnd(13)} ${c.ip.padEnd(15)} ${c.now} → ${c.afterDeletion}`);
  for (const r of spf.suggestion?.records ?? []) {
    more(`${spf.suggestion!.verified ? 'fix' : 'unverified fix'} for ${r.name}: ${r.record} (${spf.suggestion!.lookupCount} lookups)`);
  }
  for (const p of spf.suggestion?.verified ? [] : (spf.suggestion?.problems ?? [])) more(`  not verified: ${p}`);
  for (const b of spf.blockedBy) more(`owner must change: ${b.name} (${b.owner}): ${b.term}`);
  if (check.dkim.selectors.length > 0) add('DKIM', check.dkim.successorKeyPublished ? 'successor key published' : 'no successor key');
  for (const s of check.dkim.selectors)
    more(`${s.name} [${s.side}]${s.cnameTarget ? ` → ${s.cnameTarget}` : ''}${s.keyPublished ? ' key' : ''}${s.error ? ` (${s.error})` : ''}`);
  add('DMARC', `${dmarc.policy ?? 'no policy'}${dmarc.testMode ? ' (t=y)' : ''}, org ${dmarc.orgDomain}${dmarc.error ? ` (${dmarc.error})` : ''}`);
  if (dmarc.record) more(dmarc.record);
  if (check.impact.length > 0) add('Impact', '');
  for (const i of check.impact) more(`${paint(i.severity === 'critical' || i.severity === 'high' ? 'red' : 'yellow', i.severity)} ${i.message}`);
  add('Do', '');
  for (const line of check.instructions.en) more(line);
  return lines.join('\n');
}
