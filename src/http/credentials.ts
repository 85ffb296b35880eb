import { parseIp } from '../dns/ip.ts';

/**
 * The token of an `Authorization: Bearer <token>` header, read one way for everyone who needs it (the
 * authentication and the rate limiter): the scheme in any case, any whitespace around the token (a tab
 * or extra spaces must not make a second identity for the limiter). Undefined when absent or malformed.
 */
export function bearerToken(header: string | undefined): string | undefined {
  return /^\s*Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}

/**
 * Whom a per-address limit counts: an IPv4 address (an IPv4-mapped IPv6 one included) as it is, an
 * IPv6 address by its /64, the prefix one subscriber gets whole (each of its 2^64 addresses would
 * otherwise get a counter of its own).
 */
export function clientKey(ip: string): string {
  const parsed = parseIp(ip);
  if (!parsed) return ip;
  if (parsed.version === 4) return parsed.text;
  return `${(parsed.value >> 64n).toString(16).padStart(16, '0')}::/64`;
}
