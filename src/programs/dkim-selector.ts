import { normalizeDnsName, type DnsNameResult } from '../dns/dns-name.ts';

/**
 * A DKIM selector as it sits left of `._domainkey.<domain>`: DNS labels (RFC 6376 §3.1 allows several,
 * dot-separated), normalized as a DNS name is (lower case, IDN to punycode), without `_domainkey`.
 */
export function normalizeDkimSelector(input: string): DnsNameResult {
  const selector = input.trim();
  if (selector === '') return { ok: false, reason: 'is empty' };
  if (selector.startsWith('.') || selector.endsWith('.')) return { ok: false, reason: 'starts or ends with a dot; give the selector only, e.g. s1' };
  // Normalized inside a name, so the rules of a name apply to each of its labels.
  const suffix = '._domainkey.example';
  const result = normalizeDnsName(`${selector}${suffix}`);
  if (!result.ok) return result;
  const ascii = result.ascii.slice(0, -suffix.length);
  if (ascii.split('.').includes('_domainkey'))
    return { ok: false, reason: 'includes _domainkey; give the selector only, e.g. s1 for s1._domainkey.example.jp' };
  return { ok: true, ascii, unicode: result.unicode.slice(0, -suffix.length) };
}
