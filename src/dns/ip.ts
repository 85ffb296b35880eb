import { isIPv4, isIPv6 } from 'node:net';

export interface ParsedIp {
  version: 4 | 6;
  value: bigint;
  text: string;
}

function ipv6ToBigInt(text: string): bigint {
  let head = text;
  let tailV4: string | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    tailV4 = text.slice(lastColon + 1);
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left, right] = head.split('::') as [string, string | undefined];
  const l = left ? left.split(':') : [];
  const r = right !== undefined && right !== '' ? right.split(':') : [];
  const groups = right === undefined ? l : [...l, ...Array(8 - l.length - r.length).fill('0'), ...r];
  let value = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
  if (tailV4) value = (value & ~0xffffffffn) | ipv4ToBigInt(tailV4);
  return value;
}

const ipv4ToBigInt = (text: string) => text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);

/** Parses an IP; an IPv4-mapped IPv6 address (::ffff:192.0.2.1) is treated as the IPv4 address. */
export function parseIp(text: string): ParsedIp | undefined {
  if (isIPv4(text)) return { version: 4, value: ipv4ToBigInt(text), text };
  if (!isIPv6(text)) return undefined;
  const value = ipv6ToBigInt(text);
  if (value >> 32n === 0xffffn) {
    const v4 = [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
    return { version: 4, value: value & 0xffffffffn, text: v4 };
  }
  return { version: 6, value, text };
}

/** Whether `ip` is inside `network/prefix` of the same family. */
export function inNetwork(ip: ParsedIp, network: ParsedIp, prefix: number): boolean {
  if (ip.version !== network.version) return false;
  const bits = ip.version === 4 ? 32 : 128;
  if (prefix === 0) return true;
  const shift = BigInt(bits - prefix);
  return ip.value >> shift === network.value >> shift;
}

/** The reverse-lookup name: 1.2.0.192.in-addr.arpa or the nibble form under ip6.arpa. */
export function reverseName(ip: ParsedIp): string {
  if (ip.version === 4) return `${ip.text.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${nibbles(ip).reverse().join('.')}.ip6.arpa`;
}

/**
 * The 32 hex nibbles of an IPv6 address, most significant first (the `%{i}` form, dotted). They
 * follow the case the address was written in, as the reference implementation does: DNS ignores
 * case, so it only shows in explanation texts.
 */
export function nibbles(ip: ParsedIp): string[] {
  const hex = ip.value.toString(16).padStart(32, '0');
  return (/[A-F]/.test(ip.text) && !/[a-f]/.test(ip.text) ? hex.toUpperCase() : hex).split('');
}
