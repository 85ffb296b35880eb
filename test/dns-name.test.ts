import { describe, expect, it } from 'vitest';
import { normalizeDnsName } from '../src/dns/dns-name.ts';

describe('normalizeDnsName', () => {
  it.each([
    [' PO.2IIJ.NET. ', 'po.2iij.net', 'po.2iij.net'],
    ['_spf.Example.co.jp', '_spf.example.co.jp', '_spf.example.co.jp'],
    ['例え.jp', 'xn--r8jz45g.jp', '例え.jp'],
    ['Bücher.DE', 'xn--bcher-kva.de', 'bücher.de'],
    ['xn--bcher-kva.de', 'xn--bcher-kva.de', 'bücher.de'],
  ])('normalizes %j to %s (shown as %s)', (input, ascii, unicode) => {
    expect(normalizeDnsName(input)).toEqual({ ok: true, ascii, unicode });
  });

  it.each([
    ['', /empty/],
    ['.', /empty/],
    ['192.0.2.1', /IP address/],
    ['[2001:db8::1]', /IP address/],
    ['2001:db8::1', /IP address/],
    ['localhost', /no dot/],
    ['a..example.jp', /empty label/],
    ['.example.jp', /empty label/],
    [`${'a'.repeat(64)}.jp`, /longer than 63/],
    [`${'abcdefghi.'.repeat(26)}jp`, /longer than 253/],
    ['-bad.example.jp', /invalid label/],
    ['sp ace.example.jp', /invalid label/],
    ['example.123', /all-numeric/],
  ])('refuses %j', (input, reason) => {
    const result = normalizeDnsName(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
});
