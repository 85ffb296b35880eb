import type { ClientClass } from '../../src/dns/spf/clients.ts';
import { inNetwork, parseIp, reverseName, type ParsedIp } from '../../src/dns/ip.ts';
import type { Zone, ZoneRecord } from './dns-server.ts';

/**
 * Seeded SPF test domains in two worlds: today (the legacy record spf.po.2iij.net and the successor's
 * spf.gateway.example published) and after the legacy record's deletion (everything at and under
 * spf.po.2iij.net gone, so CNAMEs pointing there dangle). Each domain is built by one named shape;
 * the same seed always gives the same domains. Besides the zones, every domain carries what the
 * generator knows about it: the records it published, the names whose CNAME chain ends at the legacy
 * name, and the clients to evaluate it for (strangers chosen so no term of its records matches them).
 */

export const LEGACY = 'spf.po.2iij.net';
export const LEGACY_RECORD = 'v=spf1 ip4:210.130.0.0/16 -all';
export const LEGACY_SERVER = '210.130.1.1';
export const SUCCESSOR = 'spf.gateway.example';
export const SUCCESSOR_RECORD = 'v=spf1 ip4:203.0.113.0/24 ~all';
export const SUCCESSOR_SERVER = '203.0.113.25';
export const HELO = 'probe.invalid';

export type World = 'today' | 'deleted';
export const WORLDS: readonly World[] = ['today', 'deleted'];

/** The generator's own clients, and (`analysis:` + class) the clients the engine's analysis chose. */
export type ClientKind = 'stranger4' | 'stranger6' | 'successor' | 'legacy' | `analysis:${ClientClass}`;

export interface Client {
  kind: ClientKind;
  ip: string;
  sender: string;
  helo: string;
  /**
   * Strangers only: no ip4/ip6/a/mx network or `+all`-like term reachable from the domain matches this
   * client (false when the records authorize every address, e.g. ip4:0.0.0.0/0). Strangers have no
   * reverse names, and exists:/macro names are published for the other clients' addresses and local
   * parts only.
   */
  unmatched?: boolean;
}

/** One record as published: its owner name and the record. */
export interface Published {
  name: string;
  record: ZoneRecord;
}

export interface GeneratedDomain {
  index: number;
  /** Where check_host() starts (absent from the zone for the NXDOMAIN shape). */
  name: string;
  shape: string;
  /** What the shape chose, in words (qualifiers, depth, positions). */
  notes: string[];
  /** The records this domain's shape published (shared records such as partners' are not repeated). */
  records: Published[];
  /**
   * Names whose CNAME chain ends at or under LEGACY: the domain's own aliases (`*.` wildcards too) and
   * the targets its records reach statically (a third party's alias). Any other name a lookup reaches
   * the legacy record through is at or under LEGACY itself.
   */
  legacyAliases: string[];
  clients: Client[];
}

export interface SpfWorlds {
  seed: number;
  domains: GeneratedDomain[];
  /** Records every domain may reach: legacy, successor, partners, PTRs of the probe addresses. */
  shared: Published[];
  zones: Record<World, Zone>;
  /** The zones as the server answers from them (wildcards, CNAME chains). */
  views: Record<World, ZoneView>;
  /** Whether asking for `name` reaches the legacy record: at or under LEGACY, or aliased there (today's zone). */
  reachesLegacy(name: string): boolean;
}

// ---------------------------------------------------------------------------------------------
// A small seeded PRNG (mulberry32): fast, and the same sequence on every platform.

export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

// ---------------------------------------------------------------------------------------------
// Record helpers: each returns what it publishes.

/** An SPF record; one over 255 octets goes out as several character-strings, joined without spaces. */
const spf = (name: string, ...terms: (string | false | undefined)[]): Published => {
  const text = ['v=spf1', ...terms.filter((t): t is string => !!t)].join(' ');
  return { name, record: { type: 'TXT', data: text.length <= 255 ? text : (text.match(/.{1,255}/g) ?? []) } };
};
const txt = (name: string, data: string | string[]): Published => ({ name, record: { type: 'TXT', data } });
const a = (name: string, ip: string): Published => ({ name, record: { type: 'A', data: ip } });
const aaaa = (name: string, ip: string): Published => ({ name, record: { type: 'AAAA', data: ip } });
const mx = (name: string, preference: number, host: string): Published => ({ name, record: { type: 'MX', data: [preference, host] } });
const cname = (name: string, target: string): Published => ({ name, record: { type: 'CNAME', data: target } });
const ptr = (ip: string, target: string): Published => ({ name: reverseName(parseIp(ip)!), record: { type: 'PTR', data: target } });

const QUALIFIERS = ['', '+', '-', '~', '?'] as const;
const ALLS = ['-all', '~all', '?all', '-all', '~all', undefined] as const;
/** Local parts of the successor's and the legacy service's senders (some shapes publish exists: names for them). */
const KNOWN_LOCALS = ['info', 'billing', 'news-letter'] as const;

/** What a shape gets to build one domain. */
interface ShapeContext {
  d: string;
  rng: Rng;
  /** This domain's own IPv4 /24 and IPv6 /64, unique per domain. */
  own4: string;
  own6: string;
  /** The shape's first domain: it builds its most telling variant, so every seed has it. */
  first: boolean;
  note(text: string): void;
}

interface Shape {
  name: string;
  weight: number;
  /** Builds the domain (the context's `d`), returning every record it publishes. */
  build(c: ShapeContext): Published[];
  /** Chooses the domain's name (default `c<index>.example`). */
  domainName?(index: number): string;
}

const PARTNERS = 12;
const partner = (k: number) => `_spf.partner${k}.example`;
const openPartner = (k: number) => `_spf.open${k}.example`;

/** An own term or nothing: a customer's servers before or after the reference. */
const maybeOwn = (c: ShapeContext, p = 0.5) => (c.rng.chance(p) ? `ip4:${c.own4}` : undefined);
const anAll = (c: ShapeContext) => c.rng.pick(ALLS);
const aQualifier = (c: ShapeContext) => c.rng.pick(QUALIFIERS);

const shapes: Shape[] = [
  {
    name: 'legacy include with a qualifier',
    weight: 10,
    build(c) {
      const q = aQualifier(c);
      const all = anAll(c);
      // Customers write the name as they like: case and a trailing dot do not matter (RFC 4343).
      const spelled = c.rng.pick([LEGACY, LEGACY, LEGACY, 'SPF.PO.2IIJ.NET.', 'Spf.Po.2iij.Net']);
      c.note(`qualifier "${q}", ${all ?? 'no all'}, ${spelled}`);
      return [spf(c.d, maybeOwn(c), `${q}include:${spelled}`, maybeOwn(c, 0.2), all)];
    },
  },
  {
    name: 'legacy and successor included',
    weight: 6,
    build(c) {
      const terms = c.rng.shuffle([`include:${SUCCESSOR}`, `${aQualifier(c)}include:${LEGACY}`]);
      c.note(terms.join(' then '));
      return [spf(c.d, maybeOwn(c, 0.3), ...terms, anAll(c))];
    },
  },
  {
    name: 'nested own includes',
    weight: 7,
    build(c) {
      const depth = c.rng.between(1, 3);
      c.note(`depth ${depth}`);
      const names = [c.d, ...Array.from({ length: depth }, (_, i) => `_spf${i || ''}.${c.d}`)];
      const out: Published[] = [];
      for (let i = 0; i < depth; i++) out.push(spf(names[i]!, maybeOwn(c, 0.3), `${i === 0 ? '' : aQualifier(c)}include:${names[i + 1]}`, anAll(c)));
      out.push(spf(names[depth]!, `${aQualifier(c)}include:${LEGACY}`, c.rng.chance(0.3) && `include:${SUCCESSOR}`, anAll(c)));
      return out;
    },
  },
  {
    name: 'third-party include',
    weight: 7,
    build(c) {
      const k = c.rng.int(PARTNERS);
      c.note(`partner ${k}`);
      return [
        spf(c.d, maybeOwn(c, 0.3), `include:${partner(k)}`, c.rng.chance(0.4) && `include:${SUCCESSOR}`, c.rng.chance(0.3) && `include:${LEGACY}`, anAll(c)),
      ];
    },
  },
  {
    name: 'redirect to legacy',
    weight: 5,
    build: (c) => [spf(c.d, maybeOwn(c), c.rng.chance(0.3) && `a:mail.${c.d}`, `redirect=${LEGACY}`), a(`mail.${c.d}`, host(c.own4, 25))],
  },
  {
    name: 'redirect to an own record that includes legacy',
    weight: 5,
    build(c) {
      const target = c.rng.pick([`_spf.${c.d}`, '_spf.%{d}', '_spf.%{o}']);
      c.note(`redirect=${target}`);
      return [
        spf(c.d, maybeOwn(c, 0.3), `redirect=${target}`),
        spf(`_spf.${c.d}`, maybeOwn(c, 0.3), `${aQualifier(c)}include:${LEGACY}`, c.rng.chance(0.4) && `include:${SUCCESSOR}`, anAll(c)),
      ];
    },
  },
  {
    name: 'redirect to legacy with the successor included',
    weight: 5,
    build: (c) => [spf(c.d, `include:${SUCCESSOR}`, maybeOwn(c, 0.3), `redirect=${LEGACY}`)],
  },
  {
    name: 'include through a CNAME to legacy',
    weight: 7,
    build(c) {
      const hops = c.rng.between(1, 2);
      const viaPartner = hops === 2 && c.rng.chance(0.5);
      c.note(`${hops} hop(s)${viaPartner ? ' through a partner alias' : ''}`);
      const out = [spf(c.d, maybeOwn(c, 0.3), `${aQualifier(c)}include:_spf.${c.d}`, c.rng.chance(0.3) && `include:${SUCCESSOR}`, anAll(c))];
      if (hops === 1) out.push(cname(`_spf.${c.d}`, LEGACY));
      else if (viaPartner) out.push(cname(`_spf.${c.d}`, `legacy-alias.partner${c.rng.int(PARTNERS)}.example`));
      else out.push(cname(`_spf.${c.d}`, `alias.${c.d}`), cname(`alias.${c.d}`, LEGACY));
      return out;
    },
  },
  {
    name: 'include under a wildcard CNAME to legacy',
    weight: 6,
    build(c) {
      const target = c.rng.pick(['x._spf.' + c.d, '%{d}._spf.%{d}', '%{l}._spf.%{d}', '%{ir}._spf.%{d}', 'mail._spf.%{o}']);
      c.note(`include:${target}`);
      return [spf(c.d, maybeOwn(c, 0.3), `include:${target}`, c.rng.chance(0.3) && `include:${SUCCESSOR}`, anAll(c)), cname(`*._spf.${c.d}`, LEGACY)];
    },
  },
  {
    name: 'macro %{d} and %{d2} targets',
    weight: 4,
    // A subdomain, so that %{d2} names the organisation's record.
    domainName: (i) => `mail.c${i}.example`,
    build(c) {
      const org = c.d.slice('mail.'.length);
      const d2 = c.rng.chance(0.5);
      c.note(d2 ? 'include:_spf.%{d2}' : 'include:_spf.%{d}');
      const target = d2 ? `_spf.${org}` : `_spf.${c.d}`;
      return [
        spf(c.d, maybeOwn(c, 0.3), `include:_spf.%{${d2 ? 'd2' : 'd'}}`, anAll(c)),
        spf(target, `${aQualifier(c)}include:${LEGACY}`, c.rng.chance(0.4) && `include:${SUCCESSOR}`, anAll(c)),
      ];
    },
  },
  {
    name: 'exists with %{i}',
    weight: 5,
    build(c) {
      const listed = c.rng.pick([[], [LEGACY_SERVER], [SUCCESSOR_SERVER], [LEGACY_SERVER, SUCCESSOR_SERVER]]);
      const reversed = c.rng.chance(0.4);
      c.note(`${reversed ? '%{ir}.%{v}' : '%{i}'} listed: ${listed.join(', ') || 'none'}`);
      const spec = reversed ? `%{ir}.%{v}._ip.${c.d}` : `%{i}._ip.${c.d}`;
      const nameOf = (ip: string) => (reversed ? `${ip.split('.').reverse().join('.')}.in-addr._ip.${c.d}` : `${ip}._ip.${c.d}`);
      const legacyFirst = c.rng.chance(0.5);
      return [
        spf(c.d, legacyFirst && `include:${LEGACY}`, `${aQualifier(c)}exists:${spec}`, !legacyFirst && `include:${LEGACY}`, anAll(c)),
        ...listed.map((ip) => a(nameOf(ip), '127.0.0.2')),
      ];
    },
  },
  {
    name: 'exists with %{l} and %{l1r-}',
    weight: 4,
    build(c) {
      const l1r = c.rng.chance(0.5);
      c.note(l1r ? 'exists:%{l1r-}' : 'exists:%{l}');
      const spec = l1r ? `%{l1r-}._u.${c.d}` : `%{l}._senders.${c.d}`;
      const names = l1r ? [`news._u.${c.d}`, `info._u.${c.d}`] : [`billing._senders.${c.d}`];
      return [spf(c.d, `exists:${spec}`, `${aQualifier(c)}include:${LEGACY}`, anAll(c)), ...names.map((n) => a(n, '127.0.0.2'))];
    },
  },
  {
    name: 'macro %{o} inside an include',
    weight: 3,
    build: (c) => [
      spf(c.d, `include:_spf.${c.d}`, anAll(c)),
      spf(`_spf.${c.d}`, `exists:%{i}._ok.%{o}`, `include:${LEGACY}`, anAll(c)),
      a(`${c.rng.pick([LEGACY_SERVER, SUCCESSOR_SERVER])}._ok.${c.d}`, '127.0.0.2'),
    ],
  },
  {
    name: 'lookup limit',
    weight: 8,
    build(c) {
      const total = c.rng.pick([9, 10, 10, 11, 11, 12]);
      const legacyAt = c.rng.between(1, total);
      const nested = c.rng.chance(0.4) ? c.rng.between(2, 3) : 0;
      c.note(`${total} lookups, legacy include at ${legacyAt}${nested ? `, ${nested} of them inside an own include` : ''}`);
      const out: Published[] = [];
      const terms: string[] = [];
      // An own include holding `nested - 1` a: terms costs `nested` lookups.
      let used = 0;
      for (let k = 1; used < total; k++) {
        if (used + 1 === legacyAt) {
          terms.push(`include:${LEGACY}`);
          used++;
        } else if (nested && used + nested < legacyAt && !out.some((p) => p.name === `_inner.${c.d}`)) {
          const inner = Array.from({ length: nested - 1 }, (_, j) => `a:i${j}.${c.d}`);
          out.push(spf(`_inner.${c.d}`, ...inner, '-all'), ...inner.map((t, j) => a(t.slice(2), host(c.own4, 100 + j))));
          terms.push(`include:_inner.${c.d}`);
          used += nested;
        } else if (c.rng.chance(0.3)) {
          terms.push(`include:_h${k}.${c.d}`);
          out.push(spf(`_h${k}.${c.d}`, `ip4:${host(c.own4, k)}`, '-all'));
          used++;
        } else {
          terms.push(`a:h${k}.${c.d}`);
          out.push(a(`h${k}.${c.d}`, host(c.own4, k)));
          used++;
        }
      }
      // Sometimes a fallback redirect= instead of all: used only when nothing matched (RFC 7208 6.1).
      const ending = c.rng.pick(['-all', '~all', `redirect=_fallback.${c.d}`]);
      if (ending.startsWith('redirect')) c.note('redirect= at the end');
      return [spf(c.d, ...terms, ending), spf(`_fallback.${c.d}`, `ip4:${host(c.own4, 200)}`, '-all'), ...out];
    },
  },
  {
    name: 'void lookups',
    weight: 6,
    build(c) {
      const voids = c.rng.pick([1, 2, 2, 3, 3]);
      // `a:out` is an alias of the legacy outbound server: void only once the legacy names are gone.
      // `ptr` is void for a client without reverse names (the strangers).
      const kinds = Array.from({ length: voids }, () => c.rng.pick(['a:nx', 'mx:nx', 'exists:nx', 'a:nodata', 'include:nx', 'a:out', 'ptr']));
      const legacyAt = c.rng.int(voids + 1);
      c.note(`${voids} void-prone term(s): ${kinds.join(', ')}; legacy include after ${legacyAt} of them`);
      const terms = kinds.map((k, i) => (k === 'ptr' ? 'ptr' : `${k}${i}.${c.d}`));
      terms.splice(legacyAt, 0, `include:${LEGACY}`);
      return [
        spf(c.d, ...terms, anAll(c)),
        ...kinds.flatMap((k, i) =>
          k === 'a:nodata' ? [txt(`nodata${i}.${c.d}`, 'not an address')] : k === 'a:out' ? [cname(`out${i}.${c.d}`, `out.${LEGACY}`)] : [],
        ),
      ];
    },
  },
  {
    name: 'multiple SPF records',
    weight: 4,
    build(c) {
      const where = c.rng.pick(['top', 'included']);
      c.note(`two records ${where === 'top' ? 'at the domain' : 'at an included name'}`);
      const at = where === 'top' ? c.d : `_spf.${c.d}`;
      const out = [spf(at, `include:${LEGACY}`, '-all'), spf(at, `include:${SUCCESSOR}`, '~all'), txt(at, 'google-site-verification=x')];
      if (where === 'included') out.push(spf(c.d, `include:_spf.${c.d}`, '-all'));
      return out;
    },
  },
  {
    name: 'record split into strings, other TXT beside it',
    weight: 2,
    build: (c) => [
      txt(c.d, ['v=spf1 include:spf.po.', `2iij.net ${c.rng.pick(['-all', '~all'])}`]),
      txt(c.d, 'spf2.0/mfrom,pra include:spf.po.2iij.net -all'),
      txt(c.d, 'v=spf10 +all'),
    ],
  },
  {
    name: 'terms after all',
    weight: 4,
    build(c) {
      const after = c.rng.pick([[`include:${LEGACY}`], [`include:${SUCCESSOR}`, `include:${LEGACY}`], [`redirect=${LEGACY}`]]);
      c.note(after.join(' '));
      return [spf(c.d, `ip4:${c.own4}`, c.rng.chance(0.5) && `include:${SUCCESSOR}`, c.rng.pick(['-all', '~all', '?all']), ...after)];
    },
  },
  {
    name: 'an include every client matches, before legacy',
    weight: 4,
    build(c) {
      const own = c.rng.chance(0.5);
      c.note(own ? 'own +all record' : 'third party +all');
      const open = own ? `_open.${c.d}` : openPartner(c.rng.int(3));
      return [spf(c.d, `include:${open}`, `include:${LEGACY}`, '-all'), ...(own ? [spf(open, '+all')] : [])];
    },
  },
  {
    name: 'ranges that cover the naive probe',
    weight: 4,
    build(c) {
      const range = c.rng.pick(['192.0.2.0/24', '192.0.0.0/16', '192.0.2.1', '0.0.0.0/0', '128.0.0.0/1', '192.0.2.0/25']);
      c.note(`ip4:${range}`);
      const before = c.rng.chance(0.6);
      return [spf(c.d, before && `ip4:${range}`, `include:${LEGACY}`, !before && `ip4:${range}`, anAll(c))];
    },
  },
  {
    name: 'ip6 terms',
    weight: 4,
    build(c) {
      const legacy6 = c.rng.chance(0.5);
      const wide = c.rng.chance(0.15);
      c.note(`${legacy6 ? 'legacy _v6 include' : 'own ip6'}${wide ? ', ip6:::/0' : ''}`);
      return [spf(c.d, `ip6:${c.own6}`, wide && 'ip6:::/0', legacy6 ? `include:_v6.${LEGACY}` : `include:${LEGACY}`, anAll(c))];
    },
  },
  {
    name: 'a and mx with CIDRs',
    weight: 6,
    build(c) {
      const term = c.rng.pick(['a', 'a/24', `a:mail.${c.d}/28//64`, 'mx', 'mx/24', 'mx/24//48', `mx:${c.d}`, `a:mail.${c.d}`]);
      const mxHost = c.rng.pick([`mail.${c.d}`, 'in1.mx.gateway.example', `mail.${c.d}`]);
      c.note(`${term}, MX ${mxHost}`);
      return [
        spf(c.d, term, `${aQualifier(c)}include:${LEGACY}`, anAll(c)),
        a(c.d, host(c.own4, 1)),
        aaaa(c.d, `${c.own6.split('/')[0]}1`),
        a(`mail.${c.d}`, host(c.own4, 25)),
        aaaa(`mail.${c.d}`, `${c.own6.split('/')[0]}25`),
        mx(c.d, 10, mxHost),
      ];
    },
  },
  {
    name: 'mx with more than 10 exchanges',
    weight: 1,
    build: (c) => [
      spf(c.d, 'mx', `include:${LEGACY}`, '-all'),
      ...Array.from({ length: 11 }, (_, k) => [mx(c.d, k, `mx${k}.${c.d}`), a(`mx${k}.${c.d}`, host(c.own4, 50 + k))]).flat(),
    ],
  },
  {
    name: 'ptr',
    weight: 3,
    build(c) {
      const term = c.first ? 'ptr:po.2iij.net' : c.rng.pick(['ptr', 'ptr:po.2iij.net', 'ptr:gateway.example', `ptr:${c.d}`]);
      // Two void lookups first: whether the reverse names' address lookups count decides the third.
      const voidsFirst = c.first || c.rng.chance(0.4);
      c.note(`${term}${voidsFirst ? ' after two void lookups' : ''}`);
      return [spf(c.d, voidsFirst && `a:nx1.${c.d}`, voidsFirst && `a:nx2.${c.d}`, term, `include:${LEGACY}`, anAll(c))];
    },
  },
  {
    name: 'no SPF record',
    weight: 2,
    build: (c) => [txt(c.d, 'google-site-verification=abc'), mx(c.d, 10, 'in1.mx.gateway.example')],
  },
  {
    name: 'NXDOMAIN',
    weight: 2,
    build: () => [],
  },
  {
    name: 'syntax error',
    weight: 4,
    build(c) {
      const error = c.rng.pick([
        'ip4:210.130.0.0/33',
        'include:',
        'foo:bar',
        `redirect=${LEGACY} redirect=${SUCCESSOR}`,
        `exists:%{ir2}._ip.${c.d}`,
        `a:%{x}.${c.d}`,
        '-all:3',
        'ip6:2001:db8::/129',
        `exp=x.${c.d} exp=y.${c.d}`,
        `a:${c.d}/33`,
      ]);
      c.note(error);
      return [spf(c.d, `include:${LEGACY}`, error, '-all')];
    },
  },
  {
    name: 'exp= explanation',
    weight: 2,
    build: (c) => [spf(c.d, `include:${LEGACY}`, '-all', `exp=explain._spf.${c.d}`), txt(`explain._spf.${c.d}`, '%{i} is not one of %{d} servers')],
  },
];

/** The shapes' names, for tests that check each one is exercised. */
export const SHAPES: readonly string[] = shapes.map((s) => s.name);

/** A host address inside a /24 written as `a.b.c.0/24`. */
function host(net24: string, n: number): string {
  return `${net24.split('/')[0]!.split('.').slice(0, 3).join('.')}.${n}`;
}

// ---------------------------------------------------------------------------------------------
// Shared records: the two services, third parties, and the PTRs of the probe addresses.

function sharedRecords(rng: Rng): Published[] {
  const out: Published[] = [
    txt(LEGACY, LEGACY_RECORD),
    // Subnames under the legacy name: an IPv6 include and the legacy outbound server.
    spf(`_v6.${LEGACY}`, 'ip6:2001:db8:2110::/48', '-all'),
    a(`out.${LEGACY}`, LEGACY_SERVER),
    txt(SUCCESSOR, SUCCESSOR_RECORD),
    a('in1.mx.gateway.example', '203.0.113.10'),
    // The probe clients' reverse names: the legacy server has a stale one (no address) before its
    // forward-confirmed one, so validating them costs a void lookup.
    ptr(LEGACY_SERVER, 'old.po.2iij.net'),
    ptr(LEGACY_SERVER, 'mail.po.2iij.net'),
    a('mail.po.2iij.net', LEGACY_SERVER),
    ptr(SUCCESSOR_SERVER, 'smtp25.gateway.example'),
    a('smtp25.gateway.example', SUCCESSOR_SERVER),
  ];
  for (let k = 0; k < PARTNERS; k++) {
    const p = partner(k);
    const own = `ip4:100.127.${k}.0/24`;
    // Third parties of every kind: no legacy reference, one 1 to 3 includes deep, an alias, the successor.
    const kind = (['plain', 'legacy', 'legacy-2', 'legacy-3', 'cname', 'successor'] as const)[k % 6]!;
    switch (kind) {
      case 'plain':
        out.push(spf(p, own, rng.pick(['-all', '~all'])));
        break;
      case 'legacy':
        out.push(spf(p, own, `include:${LEGACY}`, rng.pick(['-all', '~all', '?all'])));
        break;
      case 'legacy-2':
        out.push(spf(p, own, `include:_n1.partner${k}.example`, '~all'), spf(`_n1.partner${k}.example`, `include:${LEGACY}`, '-all'));
        break;
      case 'legacy-3':
        out.push(
          spf(p, `include:_n1.partner${k}.example`, '-all'),
          spf(`_n1.partner${k}.example`, own, `include:_n2.partner${k}.example`, '?all'),
          spf(`_n2.partner${k}.example`, `include:${SUCCESSOR}`, `include:${LEGACY}`, '-all'),
        );
        break;
      case 'cname':
        out.push(cname(p, LEGACY));
        break;
      case 'successor':
        out.push(spf(p, own, `include:${SUCCESSOR}`, '-all'));
        break;
    }
    // Every partner also keeps an alias to the legacy record (customers CNAME their _spf to it).
    out.push(cname(`legacy-alias.partner${k}.example`, LEGACY));
  }
  for (let k = 0; k < 3; k++) out.push(spf(openPartner(k), '+all'));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Zones and name resolution as the test DNS server serves them.

function toZone(published: Published[]): Zone {
  const zone: Zone = new Map();
  for (const p of published) {
    const key = p.name.toLowerCase().replace(/\.$/, '');
    const entry = zone.get(key) ?? { records: [] };
    entry.records!.push(p.record);
    zone.set(key, entry);
  }
  return zone;
}

/** Whether `name` is `base` or a name below it. */
export const isAtOrUnder = (name: string, base: string) => name === base || name.endsWith(`.${base}`);

/** A zone as the test DNS server answers from it: wildcards (RFC 4592) and CNAME chains. */
export class ZoneView {
  /** Every name of the zone and every ancestor of one: empty non-terminals exist too. */
  private existing = new Set<string>();

  constructor(readonly zone: Zone) {
    for (const key of zone.keys()) {
      // A wildcard's owner exists (RFC 4592 section 2.2.2); the wildcard itself is no name to match.
      let n = key.startsWith('*.') ? key.slice(2) : key;
      this.existing.add(n);
      while (n.includes('.')) this.existing.add((n = n.slice(n.indexOf('.') + 1)));
    }
  }

  /** The entry that answers `name`: its own, or `*.<closest encloser>` when the name does not exist. */
  entry(name: string) {
    const key = normalize(name);
    const exact = this.zone.get(key);
    if (exact || this.existing.has(key)) return exact;
    let encloser = key;
    while (encloser.includes('.')) {
      encloser = encloser.slice(encloser.indexOf('.') + 1);
      if (this.existing.has(encloser)) return this.zone.get(`*.${encloser}`);
    }
    return undefined;
  }

  /** The names a lookup of `name` passes through, following CNAMEs (and wildcard CNAMEs), at most 10. */
  chain(name: string): string[] {
    const chain = [normalize(name)];
    for (let hop = 0; hop < 10; hop++) {
      const target = this.entry(chain.at(-1)!)?.records?.find((r) => r.type === 'CNAME')?.data as string | undefined;
      if (!target) break;
      chain.push(normalize(target));
    }
    return chain;
  }

  /** The records a lookup of `name` ends at, through its CNAMEs. */
  records(name: string): ZoneRecord[] {
    return this.entry(this.chain(name).at(-1)!)?.records ?? [];
  }

  /** Whether `name` is an alias whose chain ends at a name that does not exist. */
  dangles(name: string): boolean {
    const chain = this.chain(name);
    return chain.length > 1 && this.entry(chain.at(-1)!) === undefined && !this.existing.has(chain.at(-1)!);
  }

  /** The SPF records (strings joined) a TXT lookup of `name` finds. */
  spfTexts(name: string): string[] {
    return this.records(name)
      .filter((r) => r.type === 'TXT')
      .map((r) => (Array.isArray(r.data) ? r.data.join('') : (r.data as string)))
      .filter((t) => /^v=spf1( |$)/i.test(t));
  }
}

const normalize = (name: string) => name.toLowerCase().replace(/\.$/, '');

// ---------------------------------------------------------------------------------------------
// Which networks a domain's records authorize: what a stranger must stay out of.

interface Coverage {
  nets: { network: ParsedIp; prefix: number }[];
  every4: boolean;
  every6: boolean;
  /** Targets (not at or under LEGACY) whose lookup ends at the legacy record through CNAMEs. */
  aliases: Set<string>;
}

/**
 * A static walk of the records reachable from `domain` (includes, redirects, CNAMEs): every network
 * of ip4/ip6 terms and of a/mx targets' addresses with the term's CIDR, and whether some term matches
 * every client (a `+all` or `/0` reached through an include, exists: of a name that exists for
 * everyone). Targets that depend on the client or sender (%{i}, %{l}…) are keyed in the zone to the
 * probe clients only, so they never match a stranger and are skipped.
 */
function coverage(zone: ZoneView, domain: string, reachesLegacy: (name: string) => boolean): Coverage {
  const cover: Coverage = { nets: [], every4: false, every6: false, aliases: new Set() };
  const seen = new Set<string>();
  const records = (name: string) => zone.records(name);
  const addresses = (name: string) =>
    records(name)
      .filter((r) => r.type === 'A' || r.type === 'AAAA')
      .map((r) => parseIp(r.data as string)!);
  const walk = (name: string, depth: number, topLevel: boolean) => {
    if (seen.has(name) || depth > 12) return;
    seen.add(name);
    for (const text of zone.spfTexts(name)) {
      for (const raw of text.split(' ').slice(1).filter(Boolean)) {
        const qualified = /^[+\-~?]/.test(raw);
        const term = qualified ? raw.slice(1) : raw;
        const [kind, rest = ''] = splitTerm(term);
        const spec = rest.replace(/\/.*$/, '');
        const target = spec ? expandStatic(spec, name, domain) : name;
        const cidr4 = Number(/^[^/]*\/(\d+)/.exec(rest)?.[1] ?? 32);
        const cidr6 = Number(/\/\/(\d+)$/.exec(rest)?.[1] ?? 128);
        if (target && ['include', 'redirect', 'a', 'mx', 'exists'].includes(kind) && !isAtOrUnder(normalize(target), LEGACY) && reachesLegacy(target)) {
          cover.aliases.add(normalize(target));
        }
        switch (kind) {
          case 'all':
            // `all` in an included record matches every client for that include (a `+all` passes it).
            if (!topLevel && (!qualified || raw[0] === '+')) cover.every4 = cover.every6 = true;
            break;
          case 'ip4': {
            const [net, p] = rest.split('/');
            if (net && parseIp(net)) cover.nets.push({ network: parseIp(net)!, prefix: Number(p ?? 32) });
            if (p === '0') cover.every4 = true;
            break;
          }
          case 'ip6': {
            const slash = rest.indexOf('/');
            const net = parseIp(slash === -1 ? rest : rest.slice(0, slash));
            const p = slash === -1 ? 128 : Number(rest.slice(slash + 1));
            if (net) cover.nets.push({ network: net, prefix: p });
            if (p === 0) cover.every6 = true;
            break;
          }
          case 'a':
            if (target) for (const ip of addresses(target)) cover.nets.push({ network: ip, prefix: ip.version === 4 ? cidr4 : cidr6 });
            break;
          case 'mx':
            if (target)
              for (const r of records(target).filter((r) => r.type === 'MX'))
                for (const ip of addresses((r.data as [number, string])[1])) cover.nets.push({ network: ip, prefix: ip.version === 4 ? cidr4 : cidr6 });
            break;
          case 'exists':
            if (target && addresses(target).length > 0) cover.every4 = cover.every6 = true;
            break;
          case 'include':
            if (target) walk(target, depth + 1, false);
            break;
          case 'redirect':
            if (target) walk(target, depth + 1, topLevel);
            break;
        }
      }
    }
  };
  walk(domain.toLowerCase(), 0, true);
  return cover;
}

function splitTerm(term: string): [string, string?] {
  const m = /^([a-z0-9]+)([:=/])?(.*)$/i.exec(term);
  if (!m) return [term];
  const kind = m[1]!.toLowerCase();
  if (m[2] === '/') return [kind, `/${m[3]}`];
  return [kind, m[3]];
}

/** %{d}, %{d2} and %{o} expanded; undefined when the spec depends on the client or sender. */
function expandStatic(spec: string, current: string, top: string): string | undefined {
  if (/%\{[slihpv]/i.test(spec)) return undefined;
  return spec.replace(/%\{([do])(\d*)\}/gi, (_, letter: string, n: string) => {
    const value = letter.toLowerCase() === 'd' ? current : top;
    return n ? value.split('.').slice(-Number(n)).join('.') : value;
  });
}

// ---------------------------------------------------------------------------------------------
// Clients.

const STRANGER_POOLS = ['198.18.0.0', '10.0.0.0', '172.16.0.0', '100.0.0.0'];

function pickStranger4(rng: Rng, cover: Coverage): { ip: string; unmatched: boolean } {
  for (let attempt = 0; attempt < 64; attempt++) {
    const base = STRANGER_POOLS[attempt % STRANGER_POOLS.length]!.split('.').map(Number);
    const ip = `${base[0]}.${base[1]! + rng.int(2)}.${rng.between(1, 254)}.${rng.between(1, 254)}`;
    const parsed = parseIp(ip)!;
    if (!cover.nets.some((n) => inNetwork(parsed, n.network, n.prefix))) return { ip, unmatched: !cover.every4 };
  }
  return { ip: `198.18.${rng.int(256)}.${rng.between(1, 254)}`, unmatched: false };
}

function pickStranger6(rng: Rng, cover: Coverage): { ip: string; unmatched: boolean } {
  for (let attempt = 0; attempt < 64; attempt++) {
    const ip = `2001:db8:ffff:${rng.int(0x10000).toString(16)}::${rng.between(1, 0xfffe).toString(16)}`;
    const parsed = parseIp(ip)!;
    if (!cover.nets.some((n) => inNetwork(parsed, n.network, n.prefix))) return { ip, unmatched: !cover.every6 };
  }
  return { ip: '2001:db8:ffff::1', unmatched: false };
}

// ---------------------------------------------------------------------------------------------

/** `count` domains from `seed`: the same arguments always give the same worlds. */
export function generateSpfWorlds(seed: number, count: number): SpfWorlds {
  const rng = new Rng(seed);
  const shared = sharedRecords(rng);
  const totalWeight = shapes.reduce((sum, s) => sum + s.weight, 0);
  const domains: GeneratedDomain[] = [];
  for (let index = 0; index < count; index++) {
    // The first domains take every shape once, so even a small run covers them all.
    let shape = shapes[index];
    if (!shape) {
      let r = rng.next() * totalWeight;
      shape = shapes.find((s) => (r -= s.weight) < 0) ?? shapes.at(-1)!;
    }
    const d = shape.domainName?.(index) ?? `c${index}.example`;
    const notes: string[] = [];
    const own4 = `100.${64 + ((index >> 8) & 63)}.${index & 255}.0/24`;
    const own6 = `2001:db8:c:${index.toString(16)}::/64`;
    const records = shape.build({ d, rng, own4, own6, first: index < shapes.length, note: (t) => notes.push(t) });
    domains.push({ index, name: d, shape: shape.name, notes, records, legacyAliases: [], clients: [] });
  }

  const today = toZone([...shared, ...domains.flatMap((d) => d.records)]);
  const deleted: Zone = new Map([...today].filter(([name]) => !isAtOrUnder(name.replace(/^\*\./, ''), LEGACY)));
  const views = { today: new ZoneView(today), deleted: new ZoneView(deleted) };
  const reachesLegacy = (name: string) => views.today.chain(name).some((n) => isAtOrUnder(n, LEGACY));

  for (const domain of domains) {
    const cover = coverage(views.today, domain.name, reachesLegacy);
    const ownAliases = domain.records
      .filter((p) => p.record.type === 'CNAME')
      // A wildcard, through a name below it that does not exist.
      .filter((p) => reachesLegacy(p.name.startsWith('*.') ? `no-such-name${p.name.slice(1)}` : p.name))
      .map((p) => normalize(p.name));
    domain.legacyAliases = [...new Set([...ownAliases, ...cover.aliases])].sort();
    const local = rng.pick(KNOWN_LOCALS);
    const s4 = pickStranger4(rng, cover);
    const s6 = pickStranger6(rng, cover);
    // No exists: name is published for a local part like this one.
    const strangerLocal = `stranger-${rng.int(1 << 30).toString(36)}`;
    domain.clients = [
      { kind: 'stranger4', ip: s4.ip, sender: `${strangerLocal}@${domain.name}`, helo: HELO, unmatched: s4.unmatched },
      { kind: 'stranger6', ip: s6.ip, sender: `${strangerLocal}@${domain.name}`, helo: HELO, unmatched: s6.unmatched },
      { kind: 'successor', ip: SUCCESSOR_SERVER, sender: `${local}@${domain.name}`, helo: HELO },
      { kind: 'legacy', ip: LEGACY_SERVER, sender: `${local}@${domain.name}`, helo: HELO },
    ];
  }
  return { seed, domains, shared, zones: { today, deleted }, views, reachesLegacy };
}
