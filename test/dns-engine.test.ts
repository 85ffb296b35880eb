import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateDomain, type Identifiers } from '../src/dns/evaluate-domain.ts';
import { discoverDmarc, treeWalkNames } from '../src/dns/dmarc.ts';
import { createCachedLookup, createResolver, type DnsLookup } from '../src/dns/resolver.ts';
import { TestDnsServer, type ZoneRecord } from './helpers/dns-server.ts';

const ids: Identifiers = {
  legacySpfIncludes: ['spf.po.2iij.net'],
  legacyMxSuffixes: ['po.2iij.net'],
  successorSpfIncludes: ['spf.gateway.example'],
  successorMxSuffixes: ['mx.gateway.example'],
};

let server: TestDnsServer;
let dns: DnsLookup;
const txt = (...data: (string | string[])[]): ZoneRecord[] => data.map((d) => ({ type: 'TXT', data: d }));
const mx = (...hosts: [number, string][]): ZoneRecord[] => hosts.map((h) => ({ type: 'MX', data: h }));
const a = (ip: string): ZoneRecord => ({ type: 'A', data: ip });

beforeAll(async () => {
  server = await TestDnsServer.start();
  const set = (name: string, ...records: ZoneRecord[]) => server.set(name, { records });
  // The legacy and successor services.
  set('spf.po.2iij.net', ...txt('v=spf1 ip4:210.130.0.0/16 -all'));
  set('spf.gateway.example', ...txt('v=spf1 ip4:203.0.113.0/24 ~all'));
  set('mx1.po.2iij.net', a('210.130.1.1'));
  set('mx2.po.2iij.net', a('210.130.1.2'));
  set('in1.mx.gateway.example', a('203.0.113.10'));
  // Customers.
  set('direct.example.jp', ...txt('v=spf1 include:spf.po.2iij.net -all', 'google-site-verification=abc'), ...mx([10, 'mx1.po.2iij.net']));
  set('_dmarc.direct.example.jp', ...txt('v=DMARC1; p=reject; rua=mailto:d@direct.example.jp'));
  set('nested.example.jp', ...txt('v=spf1 include:_spf.nested.example.jp -all'), ...mx([10, 'in1.mx.gateway.example']));
  set('_spf.nested.example.jp', ...txt('v=spf1 include:_spf2.nested.example.jp ~all'));
  set('_spf2.nested.example.jp', ...txt('v=spf1 include:SPF.PO.2IIJ.NET. -all'));
  set('redirect.example.jp', ...txt('v=spf1 redirect=spf.po.2iij.net'), ...mx([10, 'in1.mx.gateway.example']));
  set('macro.example.jp', ...txt('v=spf1 include:%{l1r-}.spf.po.2iij.net -all'), ...mx([10, 'in1.mx.gateway.example']));
  set('macro2.example.jp', ...txt('v=spf1 redirect=_spf.%{d}'), ...mx([10, 'in1.mx.gateway.example']));
  set('_spf.macro2.example.jp', ...txt('v=spf1 include:spf.po.2iij.net -all'));
  set('multi.example.jp', ...txt(['v=spf1 include:spf.po.', '2iij.net -all']));
  set('upper.example.jp', ...txt('v=spf1 include:SPF.PO.2IIJ.NET. ~all'), ...mx([10, 'MX1.PO.2IIJ.NET.']));
  set('mixed.example.jp', ...txt('v=spf1 include:spf.gateway.example -all'), ...mx([10, 'in1.mx.gateway.example'], [20, 'mx2.po.2iij.net']));
  set('migrated.example.jp', ...txt('v=spf1 include:spf.gateway.example -all'), ...mx([10, 'in1.mx.gateway.example']));
  set('_dmarc.migrated.example.jp', ...txt('v=DMARC1; p=quarantine; pct=50'));
  set('other.example.jp', ...txt('v=spf1 include:_spf.elsewhere.example ~all'), ...mx([10, 'mx.elsewhere.example']));
  set('_spf.elsewhere.example', ...txt('v=spf1 ip4:198.51.100.0/24 -all'));
  set('nomx.example.jp', ...txt('v=spf1 -all'));
  set('several.example.jp', ...txt('v=spf1 -all', 'v=spf1 include:spf.po.2iij.net -all'), ...mx([10, 'in1.mx.gateway.example']));
  set('dead.example.jp', ...txt('v=spf1 ip4:198.51.100.0/24 -all include:spf.po.2iij.net'), ...mx([10, 'in1.mx.gateway.example']));
  const many = Array.from({ length: 11 }, (_, i) => `a:h${i}.example.jp`).join(' ');
  set('limits.example.jp', ...txt(`v=spf1 ${many} -all`), ...mx([10, 'in1.mx.gateway.example']));
  for (let i = 0; i < 11; i++) set(`h${i}.example.jp`, a(`192.0.2.${i + 10}`));
  set('voids.example.jp', ...txt('v=spf1 a:nx1.example.jp a:nx2.example.jp a:nx3.example.jp -all'), ...mx([10, 'in1.mx.gateway.example']));
  set('loop-a.example.jp', ...txt('v=spf1 include:loop-b.example.jp -all'), ...mx([10, 'in1.mx.gateway.example']));
  set('loop-b.example.jp', ...txt('v=spf1 include:loop-a.example.jp -all'));
  set('toomany.example.jp', ...txt(`v=spf1 include:spf.po.2iij.net ${Array.from({ length: 10 }, (_, i) => `a:h${i}.example.jp`).join(' ')} -all`));
  // Faults.
  server.set('slow.example.jp', { records: mx([10, 'in1.mx.gateway.example']), faults: { TXT: 'timeout' } });
  server.set('broken.example.jp', { records: txt('v=spf1 include:spf.gateway.example -all'), faults: { MX: 'servfail' } });
  set('refusing.example.jp', ...txt('v=spf1 include:_spf.refused.example -all'), ...mx([10, 'in1.mx.gateway.example']));
  server.set('_spf.refused.example', { fault: 'refused' });
  set('deep-timeout.example.jp', ...txt('v=spf1 include:spf.po.2iij.net include:_spf.slow.example -all'), ...mx([10, 'in1.mx.gateway.example']));
  server.set('_spf.slow.example', { fault: 'timeout' });
  // DMARC (RFC 9989 appendix B.4 shapes).
  set('_dmarc.example.com', ...txt('v=DMARC1; p=reject; sp=quarantine; np=reject'));
  set('mail.example.com', a('192.0.2.99'));
  set('_dmarc.signing.example.com', ...txt('v=DMARC1; p=none'));
  set('_dmarc.bank.example', ...txt('v=DMARC1; p=reject; psd=y'));
  set('_dmarc.giant.bank.example', ...txt('v=DMARC1; p=quarantine'));
  set('_dmarc.test-mode.example', ...txt('v=DMARC1; p=reject; t=y'));
  set('_dmarc.rua-only.example', ...txt('v=DMARC1; p=bogus; rua=mailto:r@rua-only.example'));
  set('_dmarc.no-rua.example', ...txt('v=DMARC1; p=bogus'));
  set('_dmarc.two.example', ...txt('v=DMARC1; p=reject', 'v=DMARC1; p=none'));
  set('_dmarc.psd-n.example', ...txt('v=DMARC1; p=quarantine; psd=n'));
  dns = createCachedLookup(createResolver({ servers: [server.address], timeoutMs: 300, tries: 1 }));
});
afterAll(() => server.close());

const check = (domain: string) => evaluateDomain(domain, ids, dns);

describe('legacy SPF references', () => {
  it('finds a direct include, simulates the deletion, suggests the fix and ranks the DMARC reject first', async () => {
    const c = await check('direct.example.jp');
    expect(c).toMatchObject({ verdict: 'needs_mx_and_spf', mx: { state: 'legacy' } });
    expect(c.spf).toMatchObject({
      state: 'legacy_referenced',
      records: ['v=spf1 include:spf.po.2iij.net -all'],
      lookupCount: 1,
      voidLookupCount: 0,
      legacyReferences: [{ term: 'include:spf.po.2iij.net', path: ['direct.example.jp'], holder: 'direct.example.jp', aliases: [], live: true }],
      resultIfLegacyDeleted: 'permerror',
      suggestedRecord: 'v=spf1 include:spf.gateway.example -all',
      suggestedLookupCount: 1,
    });
    expect(c.dmarc).toMatchObject({ policy: 'reject', orgDomain: 'direct.example.jp', policyDomain: 'direct.example.jp' });
    expect(c.impact[0]).toMatchObject({ severity: 'critical', code: 'rejected_at_deletion' });
    expect(c.impact.map((i) => i.code)).toContain('inbound_mail_lost');
    expect(c.instructions.en.join(' ')).toContain('v=spf1 include:spf.gateway.example -all');
    expect(c.instructions.ja.join(' ')).toContain('SPF レコード');
  });

  it("finds one nested two levels down (upper case, trailing dot) and fixes the record that holds it, the customer's own", async () => {
    const c = await check('nested.example.jp');
    expect(c.verdict).toBe('needs_spf_cleanup');
    expect(c.spf.legacyReferences).toEqual([
      {
        term: 'include:SPF.PO.2IIJ.NET.',
        path: ['nested.example.jp', '_spf.nested.example.jp', '_spf2.nested.example.jp'],
        holder: '_spf2.nested.example.jp',
        aliases: [],
        target: 'spf.po.2iij.net',
        live: true,
      },
    ]);
    expect(c.spf.lookupCount).toBe(3);
    expect(c.spf.resultIfLegacyDeleted).toBe('permerror');
    // The record at the domain itself stays as it is; the nested one changes.
    expect(c.spf.suggestedRecord).toBeNull();
    expect(c.spf.suggestion).toMatchObject({
      verified: true,
      records: [{ name: '_spf2.nested.example.jp', record: 'v=spf1 include:spf.gateway.example -all' }],
    });
    expect(c.instructions.en.join(' ')).toContain('Replace the SPF record of _spf2.nested.example.jp with: v=spf1 include:spf.gateway.example -all');
  });

  it("§6.1: finds one through a redirect and replaces it with the successor and today's all, so a stranger still gets fail", async () => {
    const c = await check('redirect.example.jp');
    expect(c.spf.legacyReferences[0]).toMatchObject({ term: 'redirect=spf.po.2iij.net', live: true });
    expect(c.spf.resultNow).toBe('fail');
    // redirect=spf.gateway.example would give softfail (its ~all): weaker than today.
    expect(c.spf.suggestedRecord).toBe('v=spf1 include:spf.gateway.example -all');
    expect(c.spf.resultIfLegacyDeleted).toBe('permerror');
  });

  it('finds one behind macros: literally when the target depends on the sender, expanded when only on the domain', async () => {
    const byLetter = await check('macro.example.jp');
    expect(byLetter.spf.legacyReferences[0]).toMatchObject({ term: 'include:%{l1r-}.spf.po.2iij.net', target: '%{l1r-}.spf.po.2iij.net' });
    expect(byLetter.spf.dynamicTerms.map((d) => d.term)).toEqual(['include:%{l1r-}.spf.po.2iij.net']);
    expect(byLetter.verdict).toBe('needs_spf_cleanup');
    const byDomain = await check('macro2.example.jp');
    expect(byDomain.spf.legacyReferences[0]).toMatchObject({ path: ['macro2.example.jp', '_spf.macro2.example.jp'], target: 'spf.po.2iij.net' });
  });

  it('joins the strings of a multi-string TXT record without spaces', async () => {
    const c = await check('multi.example.jp');
    expect(c.spf.records).toEqual(['v=spf1 include:spf.po.2iij.net -all']);
    expect(c.spf.state).toBe('legacy_referenced');
  });

  it('treats upper-case names and trailing dots like any other spelling', async () => {
    const c = await check('UPPER.Example.JP.');
    expect(c.domain).toBe('upper.example.jp');
    expect(c.mx.hosts).toEqual([{ exchange: 'mx1.po.2iij.net', priority: 10, side: 'legacy' }]);
    expect(c.verdict).toBe('needs_mx_and_spf');
  });

  it('reports every record when there are several, the legacy one included', async () => {
    const c = await check('several.example.jp');
    expect(c.spf.state).toBe('legacy_referenced');
    expect(c.spf.records).toHaveLength(2);
    expect(c.spf.errors.map((e) => e.kind)).toContain('multiple_records');
    expect(c.spf.suggestedRecord).toBeNull();
    expect(c.instructions.en.join(' ')).toMatch(/publishes 2 SPF records/);
  });

  it('§5.1: still flags a legacy include that no evaluation reaches (after all), and puts the fix before all', async () => {
    const c = await check('dead.example.jp');
    expect(c.spf.legacyReferences[0]).toMatchObject({ live: false });
    expect(c.spf.lookupCount).toBe(0);
    expect(c.spf.resultIfLegacyDeleted).toBe('fail');
    expect(c.spf.breaksAtDeletion).toBe(false);
    expect(c.verdict).toBe('needs_spf_cleanup');
    expect(c.spf.suggestedRecord).toBe('v=spf1 ip4:198.51.100.0/24 include:spf.gateway.example -all');
  });

  it('§4.6.4: a fix that would exceed 10 lookups is not shown; it says how many and what to drop', async () => {
    const c = await check('toomany.example.jp');
    expect(c.spf.lookupCount).toBe(11);
    expect(c.spf.suggestedLookupCount).toBe(11);
    expect(c.spf.suggestedRecord).toBeNull();
    expect(c.spf.suggestion).toMatchObject({ verified: false, lookupCount: 11, drop: [{ term: 'a:h0.example.jp', lookups: 1 }] });
    expect(c.impact.map((i) => i.code)).toContain('fix_exceeds_lookup_limit');
    expect(c.instructions.en.join(' ')).toMatch(/needs 11 DNS lookups \(limit 10\)\. Drop or flatten a:h0\.example\.jp \(1\)/);
  });
});

describe('MX', () => {
  it.each([
    ['direct.example.jp', 'legacy'],
    ['mixed.example.jp', 'mixed'],
    ['migrated.example.jp', 'successor'],
    ['other.example.jp', 'other'],
    ['nomx.example.jp', 'none'],
    ['no-such-domain.example.jp', 'nxdomain'],
  ])('%s is %s', async (domain, state) => {
    expect((await check(domain)).mx.state).toBe(state);
  });

  it('calls migrated, moved-elsewhere and mail-less domains clean, a vanished one domain_not_found, and a mixed one not', async () => {
    expect((await check('migrated.example.jp')).verdict).toBe('clean');
    expect((await check('other.example.jp')).verdict).toBe('clean');
    expect((await check('nomx.example.jp')).verdict).toBe('clean');
    expect((await check('no-such-domain.example.jp')).verdict).toBe('domain_not_found');
    expect((await check('mixed.example.jp')).verdict).toBe('needs_mx_change');
  });
});

describe('SPF limits', () => {
  it('counts lookups past 10 and void lookups past 2, and calls the record invalid', async () => {
    const limits = await check('limits.example.jp');
    expect(limits.spf).toMatchObject({ state: 'invalid', lookupCount: 11 });
    expect(limits.spf.errors.map((e) => e.kind)).toContain('lookup_limit');
    const voids = await check('voids.example.jp');
    expect(voids.spf).toMatchObject({ state: 'invalid', voidLookupCount: 3 });
    expect(voids.spf.errors.map((e) => e.kind)).toContain('void_limit');
    expect(voids.verdict).toBe('clean');
  });

  it('detects an include loop, reports it and stops', async () => {
    const c = await check('loop-a.example.jp');
    expect(c.spf.state).toBe('invalid');
    expect(c.spf.errors).toContainEqual(expect.objectContaining({ kind: 'loop', path: ['loop-a.example.jp', 'loop-b.example.jp', 'loop-a.example.jp'] }));
    expect(c.spf.resultIfLegacyDeleted).toBe('permerror');
  });
});

describe('DNS faults never yield clean', () => {
  it('a timeout on the SPF lookup leaves the verdict unknown, not clean', async () => {
    const c = await check('slow.example.jp');
    expect(c.spf.state).toBe('error');
    expect(c.verdict).toBe('unknown');
    expect(c.impact.map((i) => i.code)).toContain('incomplete');
  });

  it('SERVFAIL on MX is an error, never a state', async () => {
    const c = await check('broken.example.jp');
    expect(c.mx).toMatchObject({ state: 'error', error: expect.stringMatching(/servfail/) });
    expect(c.verdict).toBe('unknown');
  });

  it('REFUSED deep in the include tree leaves the SPF unknown', async () => {
    const c = await check('refusing.example.jp');
    expect(c.spf.state).toBe('error');
    expect(c.verdict).toBe('unknown');
  });

  it('a timeout elsewhere in the tree does not hide a legacy reference already found', async () => {
    const c = await check('deep-timeout.example.jp');
    expect(c.verdict).toBe('needs_spf_cleanup');
  });

  it('a spent time budget makes every further question a timeout', async () => {
    const c = await evaluateDomain('direct.example.jp', ids, createResolver({ servers: [server.address], timeoutMs: 300, tries: 1 }), { budgetMs: 0 });
    expect(c.verdict).toBe('unknown');
    expect(c.mx.state).toBe('error');
  });

  it('a budget spent while a question waits ends that question as a timeout of the budget', async () => {
    // The server never answers slow.example.jp's TXT; the resolver would wait 5 s, the budget 200 ms.
    const c = await evaluateDomain('slow.example.jp', ids, createResolver({ servers: [server.address], timeoutMs: 5000, tries: 1 }), { budgetMs: 200 });
    expect(c.verdict).toBe('unknown');
    expect(c.spf.errors.map((e) => e.message)).toEqual(['TXT lookup of slow.example.jp failed (timeout)']);
    // Behaviour, not speed: the budget, not the resolver's 5 s, ended the wait.
    expect(c.durationMs).toBeLessThan(5000);
  });
});

/** RFC 9989 policy discovery; the B.4 cases are the appendix's own examples, names and all. */
describe('DMARC (RFC 9989)', () => {
  it('walks at most 8 names, jumping to the last 7 labels of a long name', () => {
    expect(treeWalkNames('a.b.c.d.e.f.g.h.i.j.k.example.com')).toEqual([
      'a.b.c.d.e.f.g.h.i.j.k.example.com',
      'g.h.i.j.k.example.com',
      'h.i.j.k.example.com',
      'i.j.k.example.com',
      'j.k.example.com',
      'k.example.com',
      'example.com',
      'com',
    ]);
    expect(treeWalkNames('mail.example.com')).toEqual(['mail.example.com', 'example.com', 'com']);
  });

  it('queries exactly the walk for a 12-label name and inherits sp from the organizational domain', async () => {
    const author = 'a1.a2.a3.a4.a5.a6.a7.a8.a9.mail.example.com';
    expect(author.split('.')).toHaveLength(12);
    const before = server.queries.length;
    // Uncached, so the server sees every question.
    const d = await discoverDmarc(author, createResolver({ servers: [server.address], timeoutMs: 300, tries: 1 }), true);
    const asked = server.queries.slice(before).filter((q) => q.startsWith('TXT _dmarc.'));
    expect(asked).toEqual(treeWalkNames(author).map((n) => `TXT _dmarc.${n}`));
    expect(d.queried).toHaveLength(8);
    expect(d).toMatchObject({ policy: 'quarantine', orgDomain: 'example.com', policyDomain: 'example.com' });
  });

  it('uses np for a domain that does not exist, sp for one that does, p at the domain itself', async () => {
    expect((await discoverDmarc('gone.example.com', dns, false)).policy).toBe('reject');
    expect((await discoverDmarc('mail.example.com', dns, true)).policy).toBe('quarantine');
    expect((await discoverDmarc('example.com', dns, true)).policy).toBe('reject');
  });

  it('B.4.1: the author domain and a DKIM identifier below it share the organizational domain example.com', async () => {
    expect(await discoverDmarc('example.com', dns, true)).toMatchObject({
      orgDomain: 'example.com',
      policyDomain: 'example.com',
      queried: ['example.com', 'com'],
    });
    expect(await discoverDmarc('signing.example.com', dns, true)).toMatchObject({
      orgDomain: 'example.com',
      policyDomain: 'signing.example.com',
      queried: ['signing.example.com', 'example.com', 'com'],
    });
  });

  it('B.4.2: the deep walk finds example.com as organizational and policy domain', async () => {
    const d = await discoverDmarc('a.b.c.d.e.f.g.h.i.j.k.example.com', dns, true);
    expect(d).toMatchObject({ orgDomain: 'example.com', policyDomain: 'example.com', queried: treeWalkNames('a.b.c.d.e.f.g.h.i.j.k.example.com') });
  });

  it('B.4.3: a PSD record with psd=y stops the walk; the organizational domain is the name directly below it', async () => {
    expect(await discoverDmarc('giant.bank.example', dns, true)).toMatchObject({
      orgDomain: 'giant.bank.example',
      policyDomain: 'giant.bank.example',
      policy: 'quarantine',
      queried: ['giant.bank.example', 'bank.example'],
    });
    expect(await discoverDmarc('mail.giant.bank.example', dns, true)).toMatchObject({
      orgDomain: 'giant.bank.example',
      queried: ['mail.giant.bank.example', 'giant.bank.example', 'bank.example'],
    });
    expect(await discoverDmarc('mail.mega.bank.example', dns, true)).toMatchObject({
      orgDomain: 'mega.bank.example',
      policyDomain: 'bank.example',
      policy: 'reject',
      queried: ['mail.mega.bank.example', 'mega.bank.example', 'bank.example'],
    });
  });

  it('stops at psd=n and takes that name as organizational domain', async () => {
    const d = await discoverDmarc('a.b.psd-n.example', dns, true);
    expect(d).toMatchObject({ orgDomain: 'psd-n.example', queried: ['a.b.psd-n.example', 'b.psd-n.example', 'psd-n.example'] });
  });

  it('applies t=y one level lower, treats a bad p with rua as none and without rua as no DMARC, and ignores duplicates', async () => {
    expect(await discoverDmarc('test-mode.example', dns, true)).toMatchObject({ policy: 'quarantine', testMode: true });
    expect((await discoverDmarc('rua-only.example', dns, true)).policy).toBe('none');
    expect((await discoverDmarc('no-rua.example', dns, true)).policy).toBeNull();
    expect(await discoverDmarc('two.example', dns, true)).toMatchObject({ record: null, policy: null });
  });

  it('reports the tags RFC 9989 removed', async () => {
    const c = await check('migrated.example.jp');
    expect(c.dmarc).toMatchObject({ policy: 'quarantine', deprecatedTags: ['pct'] });
    expect(c.impact.map((i) => i.code)).toContain('dmarc_deprecated_tags');
  });
});
