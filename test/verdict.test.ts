import { describe, expect, it } from 'vitest';
import { spfStateOf, verdictOf, type SpfState } from '../src/dns/evaluate-domain.ts';
import type { MxState } from '../src/dns/mx.ts';
import type { SpfAnalysis } from '../src/dns/spf/analyze.ts';
import { rewriteRecord } from '../src/dns/spf/deletion.ts';

describe('verdictOf', () => {
  const mxStates: MxState[] = ['legacy', 'mixed', 'successor', 'other', 'none', 'nxdomain', 'error'];
  const spfStates: SpfState[] = ['legacy_referenced', 'error', 'invalid', 'none', 'clean'];
  const cases = mxStates.flatMap((mx) => spfStates.map((spf) => [mx, spf] as const));
  it.each(cases)('mx %s + spf %s', (mx, spf) => {
    const mxAction = mx === 'legacy' || mx === 'mixed';
    const spfAction = spf === 'legacy_referenced';
    const expected =
      mxAction && spfAction
        ? 'needs_mx_and_spf'
        : mxAction
          ? 'needs_mx_change'
          : spfAction
            ? 'needs_spf_cleanup'
            : mx === 'error' || spf === 'error'
              ? 'unknown'
              : mx === 'nxdomain' && spf === 'none'
                ? 'domain_not_found'
                : 'clean';
    expect(verdictOf(mx, spf)).toBe(expected);
  });

  it('never calls a domain that does not exist clean', () => expect(verdictOf('nxdomain', 'none')).toBe('domain_not_found'));

  it('never says clean when any part is an error', () => {
    for (const mx of mxStates) for (const spf of spfStates) if (mx === 'error' || spf === 'error') expect(verdictOf(mx, spf)).not.toBe('clean');
  });
});

describe('spfStateOf', () => {
  const base: SpfAnalysis = { records: ['v=spf1 -all'], lookupCount: 0, voidLookupCount: 0, legacyReferences: [], errors: [], dynamicTerms: [], termCosts: [] };
  const legacy = { term: 'include:spf.po.2iij.net', path: ['x.jp'], holder: 'x.jp', aliases: [], target: 'spf.po.2iij.net', live: true };
  it('puts a legacy reference above DNS errors, DNS errors above permerrors, and tells none from clean', () => {
    expect(
      spfStateOf({
        ...base,
        legacyReferences: [legacy],
        errors: [
          { kind: 'dns', path: [], message: '' },
          { kind: 'syntax', path: [], message: '' },
        ],
      }),
    ).toBe('legacy_referenced');
    expect(
      spfStateOf({
        ...base,
        errors: [
          { kind: 'syntax', path: [], message: '' },
          { kind: 'dns', path: [], message: '' },
        ],
      }),
    ).toBe('error');
    expect(spfStateOf({ ...base, errors: [{ kind: 'loop', path: [], message: '' }] })).toBe('invalid');
    expect(spfStateOf({ ...base, records: [] })).toBe('none');
    expect(spfStateOf(base)).toBe('clean');
  });
});

describe('rewriteRecord', () => {
  const successor = ['spf.gateway.example'];
  const rewrite = (record: string, legacyTerms: string[], today: Parameters<typeof rewriteRecord>[3] = 'fail', successors = successor) =>
    rewriteRecord(record, new Set(legacyTerms.map((t) => t.toLowerCase())), successors, today);
  it.each([
    ['v=spf1 include:spf.po.2iij.net -all', ['include:spf.po.2iij.net'], 'v=spf1 include:spf.gateway.example -all'],
    [
      'v=spf1 ip4:198.51.100.1 include:SPF.PO.2IIJ.NET. include:_spf.google.com ~all',
      ['include:SPF.PO.2IIJ.NET.'],
      'v=spf1 ip4:198.51.100.1 include:spf.gateway.example include:_spf.google.com ~all',
    ],
    ['v=spf1 include:spf.po.2iij.net include:spf.gateway.example -all', ['include:spf.po.2iij.net'], 'v=spf1 include:spf.gateway.example -all'],
    [
      'v=spf1 include:spf.po.2iij.net include:sub.spf.po.2iij.net -all',
      ['include:spf.po.2iij.net', 'include:sub.spf.po.2iij.net'],
      'v=spf1 include:spf.gateway.example -all',
    ],
    ['v=spf1 include:%{l}.spf.po.2iij.net -all', ['include:%{l}.spf.po.2iij.net'], 'v=spf1 include:spf.gateway.example -all'],
  ])('%s → the successor where the legacy include stood', (record, terms, expected) => expect(rewrite(record, terms)).toBe(expected));

  it("§5.2: the successor include gets the default + qualifier, not the legacy include's", () => {
    expect(rewrite('v=spf1 -include:spf.po.2iij.net mx -all', ['-include:spf.po.2iij.net'])).toBe('v=spf1 include:spf.gateway.example mx -all');
    expect(rewrite('v=spf1 ?include:spf.po.2iij.net -all', ['?include:spf.po.2iij.net'])).toBe('v=spf1 include:spf.gateway.example -all');
  });

  it('§5.1: the successor include goes before all, never after it where no evaluation reaches it', () => {
    expect(rewrite('v=spf1 ip4:198.51.100.0/24 -all include:spf.po.2iij.net', ['include:spf.po.2iij.net'])).toBe(
      'v=spf1 ip4:198.51.100.0/24 include:spf.gateway.example -all',
    );
  });

  it("§6.1: a legacy redirect becomes an explicit all with today's result for a stranger, not the default neutral", () => {
    expect(rewrite('v=spf1 mx redirect=spf.po.2iij.net', ['redirect=spf.po.2iij.net'], 'fail')).toBe('v=spf1 mx include:spf.gateway.example -all');
    expect(rewrite('v=spf1 include:spf.gateway.example redirect=spf.po.2iij.net', ['redirect=spf.po.2iij.net'], 'softfail')).toBe(
      'v=spf1 include:spf.gateway.example ~all',
    );
    expect(rewrite('v=spf1 redirect=spf.po.2iij.net exp=why.%{d}', ['redirect=spf.po.2iij.net'], 'fail')).toBe(
      'v=spf1 include:spf.gateway.example -all exp=why.%{d}',
    );
    // With all present the redirect was never followed: it simply goes.
    expect(rewrite('v=spf1 a ~all redirect=spf.po.2iij.net', ['redirect=spf.po.2iij.net'])).toBe('v=spf1 a include:spf.gateway.example ~all');
  });

  it('keeps every other term and its order, and only removes the legacy terms when the program names no successor include', () => {
    expect(rewrite('v=spf1 a include:spf.po.2iij.net mx:m.example.jp/24 ~all', ['include:spf.po.2iij.net'], 'fail', [])).toBe(
      'v=spf1 a mx:m.example.jp/24 ~all',
    );
    expect(rewrite('v=spf1 include:spf.po.2iij.net', ['include:spf.po.2iij.net'], 'neutral')).toBe('v=spf1 include:spf.gateway.example');
  });
});
