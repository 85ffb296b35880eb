import { isIP } from 'node:net';

/** SPF record syntax (RFC 7208 section 4.6 and 12), parsed into terms; anything else is a syntax error. */

export type Qualifier = '+' | '-' | '~' | '?';
export type MechanismKind = 'all' | 'include' | 'a' | 'mx' | 'ptr' | 'ip4' | 'ip6' | 'exists';

export interface Mechanism {
  qualifier: Qualifier;
  kind: MechanismKind;
  /** The domain-spec (macro-string), if given. */
  domainSpec?: string;
  /** ip4/ip6 network */
  network?: string;
  cidr4?: number;
  cidr6?: number;
  /** The term as written, for reports. */
  text: string;
}

export interface SpfRecord {
  mechanisms: Mechanism[];
  redirect?: string;
  exp?: string;
  /** Unknown modifiers are allowed and ignored. */
  unknownModifiers: string[];
}

export type ParseResult = { ok: true; record: SpfRecord } | { ok: false; error: string };

/** Whether a TXT string is an SPF record: "v=spf1" followed by a space or the end, any case. */
export const isSpfRecord = (txt: string) => /^v=spf1( |$)/i.test(txt);

const MACRO_LETTERS = 'slodiphcrtv';
const EXP_ONLY = 'crt';

/**
 * Checks a macro-string (RFC 7208 section 7.1). In domain-specs the letters c, r and t are not
 * allowed (they are for explanations only).
 */
export function checkMacroString(s: string, { explanation = false } = {}): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const code = c.charCodeAt(0);
    if (c !== '%') {
      if (explanation ? code < 0x20 || code > 0x7e : code < 0x21 || code > 0x7e) return `invalid character ${JSON.stringify(c)}`;
      continue;
    }
    const next = s[i + 1];
    if (next === '%' || next === '_' || next === '-') {
      i++;
      continue;
    }
    if (next !== '{') return 'a "%" must start a macro (%{…}, %%, %_ or %-)';
    const end = s.indexOf('}', i);
    if (end === -1) return 'unterminated macro';
    const body = s.slice(i + 2, end);
    const m = /^([a-z])(\d*)(r?)([.\-+,/_=]*)$/i.exec(body);
    if (!m) return `invalid macro %{${body}}`;
    const letter = m[1]!.toLowerCase();
    if (!MACRO_LETTERS.includes(letter)) return `unknown macro letter "${m[1]}"`;
    if (!explanation && EXP_ONLY.includes(letter)) return `macro letter "${m[1]}" is only allowed in explanations`;
    if (m[2] !== '' && Number(m[2]) === 0) return 'a macro may not keep zero labels';
    i = end;
  }
  return undefined;
}

const TOPLABEL = /^(?=.*[a-z])[a-z0-9]+$|^[a-z0-9]+-[a-z0-9-]*[a-z0-9]$/i;

/** A domain-spec: a macro-string that ends in a macro or in "." toplabel (optionally a dot). */
function domainSpecProblem(spec: string): string | undefined {
  if (spec === '') return 'empty domain';
  const macroError = checkMacroString(spec);
  if (macroError) return macroError;
  if (/%\{[^}]*\}$/.test(spec)) return undefined;
  const trimmed = spec.endsWith('.') ? spec.slice(0, -1) : spec;
  const dot = trimmed.lastIndexOf('.');
  if (dot === -1) return `"${spec}" is not a domain (no top-level label)`;
  const top = trimmed.slice(dot + 1);
  if (!TOPLABEL.test(top)) return `"${spec}" does not end in a valid top-level label`;
  return undefined;
}

const IP4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function parseCidr(text: string | undefined, max: number): number | undefined | null {
  if (text === undefined) return undefined;
  if (!/^(0|[1-9]\d{0,2})$/.test(text)) return null;
  const n = Number(text);
  return n > max ? null : n;
}

/** Splits "[domain-spec][/cidr4][//cidr6]" for a and mx. */
function parseDualCidr(rest: string): { spec?: string; cidr4?: number; cidr6?: number } | string {
  const m = /^(.*?)(?:\/(\d+))?(?:\/\/(\d+))?$/.exec(rest)!;
  const [, spec, c4, c6] = m;
  const cidr4 = parseCidr(c4, 32);
  const cidr6 = parseCidr(c6, 128);
  if (cidr4 === null || cidr6 === null) return 'invalid CIDR length';
  return { ...(spec ? { spec } : {}), ...(cidr4 !== undefined ? { cidr4 } : {}), ...(cidr6 !== undefined ? { cidr6 } : {}) };
}

function parseMechanism(term: string): Mechanism | string {
  const qualifier = ('+-~?'.includes(term[0]!) ? term[0] : '+') as Qualifier;
  const body = '+-~?'.includes(term[0]!) ? term.slice(1) : term;
  const m = /^([a-z0-9]+)(?:([:/])(.*))?$/i.exec(body);
  if (!m) return `unknown term "${term}"`;
  const kind = m[1]!.toLowerCase();
  const sep = m[2];
  const arg = m[3];
  const base = { qualifier, text: term };
  switch (kind) {
    case 'all':
      return sep ? `"all" takes no argument: "${term}"` : { ...base, kind: 'all' };
    case 'include':
    case 'exists': {
      if (sep !== ':' || !arg) return `"${kind}" needs a domain: "${term}"`;
      const error = domainSpecProblem(arg);
      return error ? `${term}: ${error}` : { ...base, kind, domainSpec: arg };
    }
    case 'a':
    case 'mx': {
      if (!sep) return { ...base, kind };
      const parsed = parseDualCidr(sep === '/' ? `/${arg ?? ''}` : (arg ?? ''));
      if (typeof parsed === 'string') return `${term}: ${parsed}`;
      if (sep === ':' && !parsed.spec) return `${term}: empty domain`;
      if (parsed.spec) {
        const error = domainSpecProblem(parsed.spec);
        if (error) return `${term}: ${error}`;
      }
      return { ...base, kind, ...(parsed.spec ? { domainSpec: parsed.spec } : {}), ...pickCidr(parsed) };
    }
    case 'ptr': {
      if (!sep) return { ...base, kind };
      if (sep !== ':' || !arg) return `${term}: invalid`;
      const error = domainSpecProblem(arg);
      return error ? `${term}: ${error}` : { ...base, kind, domainSpec: arg };
    }
    case 'ip4': {
      if (sep !== ':' || !arg) return `${term}: needs an IPv4 network`;
      const [net, c, extra] = arg.split('/');
      const cidr4 = parseCidr(c, 32);
      if (!IP4.test(net!) || cidr4 === null || extra !== undefined) return `${term}: invalid IPv4 network`;
      return { ...base, kind, network: net!, cidr4: cidr4 ?? 32 };
    }
    case 'ip6': {
      if (sep !== ':' || !arg) return `${term}: needs an IPv6 network`;
      const slash = arg.indexOf('/');
      const net = slash === -1 ? arg : arg.slice(0, slash);
      const cidr6 = slash === -1 ? undefined : parseCidr(arg.slice(slash + 1), 128);
      if (!isIpv6(net) || cidr6 === null) return `${term}: invalid IPv6 network`;
      return { ...base, kind, network: net, cidr6: cidr6 ?? 128 };
    }
    default:
      return `unknown mechanism "${m[1]}" in "${term}"`;
  }
}

function pickCidr(p: { cidr4?: number; cidr6?: number }) {
  return { ...(p.cidr4 !== undefined ? { cidr4: p.cidr4 } : {}), ...(p.cidr6 !== undefined ? { cidr6: p.cidr6 } : {}) };
}

/** An IPv6 network; node's isIP accepts zone ids ("fe80::1%eth0"), which SPF does not. */
const isIpv6 = (s: string) => !s.includes('%') && isIP(s) === 6;

const parsed = new Map<string, ParseResult>();
const MAX_PARSED = 10_000;

/**
 * Parses a whole record; the first syntax error anywhere makes it invalid (permerror). Results are
 * kept by text (bounded): a sweep meets the same shared include records thousands of times. Callers
 * must treat the result as read-only.
 */
export function parseSpfRecord(text: string): ParseResult {
  let result = parsed.get(text);
  if (!result) {
    result = parseUncached(text);
    if (parsed.size >= MAX_PARSED) parsed.delete(parsed.keys().next().value!);
    parsed.set(text, result);
  }
  return result;
}

function parseUncached(text: string): ParseResult {
  if (!isSpfRecord(text)) return { ok: false, error: 'not an SPF record (must start with "v=spf1")' };
  if (/[^\x20-\x7e]/.test(text)) return { ok: false, error: 'the record has characters outside printable ASCII' };
  const terms = text
    .slice(6)
    .split(' ')
    .filter((t) => t !== '');
  const record: SpfRecord = { mechanisms: [], unknownModifiers: [] };
  for (const term of terms) {
    const modifier = /^([a-z][a-z0-9_.-]*)=(.*)$/i.exec(term);
    if (modifier) {
      const name = modifier[1]!.toLowerCase();
      const value = modifier[2]!;
      if (name === 'redirect' || name === 'exp') {
        if (record[name] !== undefined) return { ok: false, error: `"${name}" appears twice` };
        const error = domainSpecProblem(value);
        if (error) return { ok: false, error: `${term}: ${error}` };
        record[name] = value;
      } else {
        const error = checkMacroString(value);
        if (error) return { ok: false, error: `${term}: ${error}` };
        record.unknownModifiers.push(term);
      }
      continue;
    }
    const mechanism = parseMechanism(term);
    if (typeof mechanism === 'string') return { ok: false, error: mechanism };
    record.mechanisms.push(mechanism);
  }
  return { ok: true, record };
}
