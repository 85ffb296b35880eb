import { describe, expect, it } from 'vitest';
import { spfStateOf, suggestRecord, verdictOf, type SpfState } from '../src/dns/check-domain.ts';
import type { MxState } from '../src/dns/mx.ts';
import type { SpfAnalysis } from '../src/dns/spf/analyze.ts';

describe('verdictOf', () => {
  const mxStates: MxState[] = ['legacy', 'mixed', 'successor', 'other', 'none', 'nxdomain', 'error'];
  const spfStates: SpfState[] = ['legacy_referenced', 'error', 'invalid', 'none', 'clean'];
  const cases = mxStates.flatMap((mx) => spfStates.map((spf) => [mx, spf] as const));
  it.each(cases)('mx %s + spf %s', (mx, spf) => {
    const mxAction = mx === 'legacy' || mx === 'mixed';
    const spfAction = spf === 'legacy_referenced';
    const expected = mxAction && spfAction ? 'needs_mx_and_spf' : mxAction ? 'needs_mx_change' : spfAction ? 'needs_spf_cleanup' : mx === 'error' || spf === 'error' ? 'unknown' : 'clean';
    expect(verdictOf(mx, spf)).toBe(expected);
  });

  it('never says clean when any part is an error', () => {
    for (const mx of mxStates) for (const spf of spfStates) if (mx === 'error' || spf === 'error') expect(verdictOf(mx, spf)).not.toBe('clean');
  });
});

describe('spfStateOf', () => {
  const base: SpfAnalysis = { records: ['v=spf1 -all'], lookupCount: 0, voidLookupCount: 0, legacyReferences: [], errors: [], dynamicTerms: [] };
  const legacy = { term: 'include:spf.po.2iij.net', path: ['x.jp'], target: 'spf.po.2iij.net', live: true };
  it('puts a legacy reference above DNS errors, DNS errors above permerrors, and tells none from clean', () => {
    expect(spfStateOf({ ...base, legacyReferences: [legacy], errors: [{ kind: 'dns', path: [], message: '' }, { kind: 'syntax', path: [], message: '' }] })).toBe('legacy_referenced');
    expect(spfStateOf({ ...base, errors: [{ kind: 'syntax', path: [], message: '' }, { kind: 'dns', path: [], message: '' }] })).toBe('error');
    expect(spfStateOf({ ...base, errors: [{ kind: 'loop', path: [], message: '' }] })).toBe('invalid');
    expect(spfStateOf({ ...base, records: [] })).toBe('none');
    expect(spfStateOf(base)).toBe('clean');
  });
});

describe('suggestRecord', () => {
  const legacy = ['spf.po.2iij.net'];
  const successor = ['spf.gateway.example'];
  it.each([
    ['v=spf1 include:spf.po.2iij.net -all', 'v=spf1 include:spf.gateway.example -all'],
    ['v=spf1 ip4:198.51.100.1 include:SPF.PO.2IIJ.NET. include:_spf.google.com ~all', 'v=spf1 ip4:198.51.100.1 include:spf.gateway.example include:_spf.google.com ~all'],
    ['v=spf1 include:spf.po.2iij.net include:spf.gateway.example -all', 'v=spf1 include:spf.gateway.example -all'],
    ['v=spf1 include:spf.po.2iij.net include:sub.spf.po.2iij.net -all', 'v=spf1 include:spf.gateway.example -all'],
    ['v=spf1 ?include:spf.po.2iij.net -all', 'v=spf1 ?include:spf.gateway.example -all'],
    ['v=spf1 mx redirect=spf.po.2iij.net', 'v=spf1 mx redirect=spf.gateway.example'],
    ['v=spf1 include:%{l}.spf.po.2iij.net -all', 'v=spf1 include:spf.gateway.example -all'],
  ])('%s → %s', (record, expected) => expect(suggestRecord([record], legacy, successor)).toBe(expected));

  it('gives nothing when the record has no legacy reference, or when there is not exactly one record', () => {
    expect(suggestRecord(['v=spf1 include:_spf.google.com -all'], legacy, successor)).toBeNull();
    expect(suggestRecord(['v=spf1 -all', 'v=spf1 include:spf.po.2iij.net -all'], legacy, successor)).toBeNull();
  });

  it('only removes the legacy include when the program names no successor include', () => {
    expect(suggestRecord(['v=spf1 a include:spf.po.2iij.net -all'], legacy, [])).toBe('v=spf1 a -all');
  });
});
