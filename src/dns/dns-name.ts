import { isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';

export type DnsNameResult = { ok: true; ascii: string; unicode: string } | { ok: false; reason: string };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const isAscii = (s: string) => [...s].every((c) => c.charCodeAt(0) < 0x80);

/**
 * Normalizes a DNS name as this service stores it: trimmed, lower case, one trailing dot removed,
 * IDN converted to punycode (UTS #46, as browsers do). Underscore labels are allowed because SPF and
 * DMARC names use them (`_spf.example.com`). IP literals, empty or over-long labels, names over
 * 253 octets and single-label names are refused.
 */
export function normalizeDnsName(input: string): DnsNameResult {
  let name = input.trim();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name === '') return { ok: false, reason: 'is empty' };
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  if (isIP(bare) !== 0) return { ok: false, reason: 'is an IP address, not a DNS name' };
  if (name.split('.').some((label) => label === '')) return { ok: false, reason: 'has an empty label (two dots in a row or a leading dot)' };
  // domainToASCII rejects underscores in some labels, so convert label by label where needed.
  const ascii = name
    .split('.')
    .map((label) => (isAscii(label) ? label.toLowerCase() : domainToASCII(label)))
    .join('.');
  if (ascii.split('.').some((label) => label === '')) return { ok: false, reason: 'is not a valid internationalized domain name' };
  const labels = ascii.split('.');
  const tooLong = labels.find((label) => label.length > 63);
  if (tooLong) return { ok: false, reason: `has a label longer than 63 octets (${Array.from(tooLong).slice(0, 20).join('')}…)` };
  const bad = labels.find((label) => !LABEL.test(label));
  if (bad !== undefined)
    return { ok: false, reason: `has an invalid label "${bad}" (letters, digits, hyphens and underscores only; no leading or trailing hyphen)` };
  if (ascii.length > 253) return { ok: false, reason: 'is longer than 253 octets' };
  if (labels.length < 2) return { ok: false, reason: 'has no dot; expected a name such as example.co.jp' };
  if (/^\d+$/.test(labels[labels.length - 1]!)) return { ok: false, reason: 'has an all-numeric top-level label' };
  return { ok: true, ascii, unicode: domainToUnicode(ascii) || ascii };
}
