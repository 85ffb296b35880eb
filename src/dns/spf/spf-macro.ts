import { nibbles, type ParsedIp } from '../ip.ts';

/** What macros expand from (RFC 7208 section 7.2). */
export interface MacroContext {
  sender: string;
  localPart: string;
  senderDomain: string;
  /** The current domain: it changes inside include and redirect. */
  domain: string;
  ip: ParsedIp;
  helo: string;
  receiver: string;
  now: Date;
  /** `%{p}`: the validated domain name of the IP (costs DNS lookups, so only computed when used). */
  validatedName: () => Promise<string>;
}

const UNRESERVED = /[^A-Za-z0-9\-._~]/g;
const urlEscape = (s: string) =>
  s.replace(UNRESERVED, (c) => [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));

/** RFC 5952 text form of an IPv6 address, for `%{c}`. */
function compressIpv6(ip: ParsedIp): string {
  const groups = ip.value
    .toString(16)
    .padStart(32, '0')
    .match(/.{4}/g)!
    .map((g) => g.replace(/^0+(?=.)/, ''));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  if (best.at === -1) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

async function letterValue(letter: string, ctx: MacroContext): Promise<string> {
  switch (letter) {
    case 's':
      return ctx.sender;
    case 'l':
      return ctx.localPart;
    case 'o':
      return ctx.senderDomain;
    case 'd':
      return ctx.domain;
    case 'i':
      return ctx.ip.version === 4 ? ctx.ip.text : nibbles(ctx.ip).join('.');
    case 'p':
      return ctx.validatedName();
    case 'v':
      return ctx.ip.version === 4 ? 'in-addr' : 'ip6';
    case 'h':
      return ctx.helo;
    case 'c':
      return ctx.ip.version === 4 ? ctx.ip.text : compressIpv6(ctx.ip);
    case 'r':
      return ctx.receiver;
    case 't':
      return String(Math.floor(ctx.now.getTime() / 1000));
    default:
      throw new Error(`unknown macro letter ${letter}`);
  }
}

/** Letters whose value depends on the message (sender, HELO, client), not only on the domain. */
export const SENDER_DEPENDENT_LETTERS = 'slohipc';

/** Whether a domain-spec can be expanded knowing only the current domain. */
export const dependsOnSender = (spec: string) => new RegExp(`%\\{[${SENDER_DEPENDENT_LETTERS}]`, 'i').test(spec);

/**
 * Expands a macro-string (syntax already checked). A domain-spec longer than 253 octets loses labels
 * from the left until it fits.
 */
export async function expandMacros(spec: string, ctx: MacroContext, { domainSpec = true } = {}): Promise<string> {
  let out = '';
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const next = spec[++i];
    if (next === '%') out += '%';
    else if (next === '_') out += ' ';
    else if (next === '-') out += '%20';
    else {
      const end = spec.indexOf('}', i);
      const m = /^([a-z])(\d*)(r?)([.\-+,/_=]*)$/i.exec(spec.slice(i + 1, end))!;
      i = end;
      const letter = m[1]!;
      const value = await letterValue(letter.toLowerCase(), ctx);
      const delimiters = m[4] || '.';
      let parts = value.split(new RegExp(`[${delimiters.replace(/[-/\\]/g, '\\$&')}]`));
      if (m[3]) parts = parts.reverse();
      if (m[2]) parts = parts.slice(-Math.min(Number(m[2]), parts.length));
      const expanded = parts.join('.');
      out += letter === letter.toUpperCase() ? urlEscape(expanded) : expanded;
    }
  }
  if (domainSpec) {
    while (out.length > 253 && out.includes('.')) out = out.slice(out.indexOf('.') + 1);
  }
  return out;
}
