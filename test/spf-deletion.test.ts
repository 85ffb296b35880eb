import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateDomain, type DomainEvaluation, type Identifiers } from '../src/dns/evaluate-domain.ts';
import { createCachedLookup, createResolver, type DnsLookup, type DnsOutcome } from '../src/dns/resolver.ts';
import { TestDnsServer, type ZoneRecord } from './helpers/dns-server.ts';

/**
 * The deletion simulation, case by case (issue 14): each zone below is a shape on which a static
 * reading of the records gives a wrong answer that an evaluation per client class gets right.
 */
const ids: Identifiers = {
  legacySpfIncludes: ['spf.po.2iij.net'],
  legacyMxSuffixes: ['po.2iij.net'],
  successorSpfIncludes: ['spf.gateway.example'],
  successorMxSuffixes: ['mx.gateway.example'],
  legacyDkimSelectors: ['iij1'],
  legacyDkimTargets: ['dkim.po.2iij.net'],
  successorDkimSelectors: ['gw1'],
  successorDkimTargets: ['dkim.gateway.example'],
};

let server: TestDnsServer;
let dns: DnsLookup;
const txt = (...data: string[]): ZoneRecord[] => data.map((d) => ({ type: 'TXT', data: d }));
const cname = (target: string): ZoneRecord => ({ type: 'CNAME', data: target });
const a = (ip: string): ZoneRecord => ({ type: 'A', data: ip });
const mxOnSuccessor: ZoneRecord = { type: 'MX', data: [10, 'in1.mx.gateway.example'] };

beforeAll(async () => {
  server = await TestDnsServer.start();
  const set = (name: string, ...records: ZoneRecord[]) => server.set(name, { records });
  set('spf.po.2iij.net', ...txt('v=spf1 ip4:210.130.0.0/16 -all'));
  set('sub.spf.po.2iij.net', ...txt('v=spf1 ip4:210.131.0.0/16 -all'));
  set('spf.gateway.example', ...txt('v=spf1 ip4:203.0.113.0/24 ~all'));
  set('allpass.example', ...txt('v=spf1 +all'));
  for (let i = 0; i < 12; i++) set(`h${i}.example.net`, a(`198.18.0.${i + 1}`));
  const customer = (name: string, ...records: ZoneRecord[]) => set(name, mxOnSuccessor, ...records);

  // 1. CNAMEs into the legacy name.
  customer('cn.test', ...txt('v=spf1 include:_spf.cn.test -all'));
  set('_spf.cn.test', cname('spf.po.2iij.net'));
  customer('cn-sub.test', ...txt('v=spf1 ip4:198.51.100.7 include:_spf.cn-sub.test -all'));
  set('_spf.cn-sub.test', cname('sub.spf.po.2iij.net'));
  customer('cn-foreign.test', ...txt('v=spf1 include:_spf.partner.example -all'));
  set('_spf.partner.example', cname('spf.po.2iij.net'));
  set('apex-alias.test', cname('spf.po.2iij.net'));

  // 2. Clients that a fixed probe address would have matched.
  customer('testnet.test', ...txt('v=spf1 ip4:192.0.2.0/24 include:spf.po.2iij.net -all'));
  customer('localpart.test', ...txt('v=spf1 exists:%{l}._spf.localpart.test include:spf.po.2iij.net -all'));
  set('postmaster._spf.localpart.test', a('127.0.0.2'));
  customer('v4-only.test', ...txt('v=spf1 ip4:0.0.0.0/0 include:spf.po.2iij.net -all'));

  // 3. Suggestions.
  customer('minus.test', ...txt('v=spf1 -include:spf.po.2iij.net mx -all'));
  customer('redirect-both.test', ...txt('v=spf1 include:spf.gateway.example redirect=spf.po.2iij.net'));
  customer('successor-first.test', ...txt('v=spf1 include:spf.gateway.example include:spf.po.2iij.net -all'));

  // 4. Present but not live.
  customer('after-limit.test', ...txt(`v=spf1 ${Array.from({ length: 10 }, (_, i) => `a:h${i}.example.net`).join(' ')} include:spf.po.2iij.net -all`));
  customer('behind-allpass.test', ...txt('v=spf1 include:allpass.example include:spf.po.2iij.net -all'));

  // 5. What the evaluation says, not the static count.
  customer('allpass-first.test', ...txt(`v=spf1 include:allpass.example ${Array.from({ length: 12 }, (_, i) => `a:h${i}.example.net`).join(' ')} -all`));
  customer('macro-voids.test', ...txt('v=spf1 exists:%{l}.v1.test exists:%{l}.v2.test exists:%{l}.v3.test -all'));
  customer('ptr-voids.test', ...txt('v=spf1 ptr ptr:example.net a:nx.example.net -all'));

  // The same record at two domains (the provider's template), and one whose top record names its domain implicitly.
  customer('same1.test', ...txt('v=spf1 include:spf.po.2iij.net -all'));
  customer('same2.test', ...txt('v=spf1 include:spf.po.2iij.net -all'));
  customer('own-a1.test', ...txt('v=spf1 a include:spf.po.2iij.net -all'), a('192.0.2.1'));
  customer('own-a2.test', ...txt('v=spf1 a include:spf.po.2iij.net -all'));

  // DKIM.
  customer('dkim.test', ...txt('v=spf1 include:spf.po.2iij.net -all'));
  set('_dmarc.dkim.test', ...txt('v=DMARC1; p=reject'));
  set('iij1._domainkey.dkim.test', cname('iij1.dkim.po.2iij.net'));
  set('iij1.dkim.po.2iij.net', ...txt('v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'));
  set('gw1._domainkey.dkim.test', cname('gw1.dkim.gateway.example'));
  set('gw1.dkim.gateway.example', ...txt('v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEB'));
  customer('nodkim.test', ...txt('v=spf1 include:spf.po.2iij.net -all'));
  set('_dmarc.nodkim.test', ...txt('v=DMARC1; p=reject'));
  set('gw1._domainkey.nodkim.test', ...txt('v=DKIM1; p='));

  dns = createCachedLookup(createResolver({ servers: [server.address], timeoutMs: 500, tries: 1 }));
});
afterAll(() => server.close());

const check = (domain: string, identifiers: Identifiers = ids) => evaluateDomain(domain, identifiers, dns);
const client = (c: DomainEvaluation, cls: string) => c.spf.clients.find((x) => x.class === cls)!;

describe('1. CNAMEs to the legacy record (RFC 7208 §5.2, §4.3)', () => {
  it('§5.2: an include whose target is a CNAME to the legacy name is a legacy reference, the CNAME in its path', async () => {
    const c = await check('cn.test');
    expect(c.verdict).toBe('needs_spf_cleanup');
    expect(c.spf.legacyReferences).toEqual([
      { term: 'include:_spf.cn.test', path: ['cn.test', '_spf.cn.test'], holder: 'cn.test', aliases: ['_spf.cn.test'], target: 'spf.po.2iij.net', live: true },
    ]);
    // After the deletion the CNAME dangles: the include finds no record, which is permerror.
    expect(c.spf.resultIfLegacyDeleted).toBe('permerror');
    expect(c.spf.breaksAtDeletion).toBe(true);
    expect(c.spf.suggestedRecord).toBe('v=spf1 include:spf.gateway.example -all');
    expect(c.instructions.en.join(' ')).toContain('Delete the CNAME _spf.cn.test');
  });

  it('§5.2: a CNAME to a name under the legacy include name goes with the deletion too', async () => {
    const c = await check('cn-sub.test');
    expect(c.spf.legacyReferences[0]).toMatchObject({ aliases: ['_spf.cn-sub.test'], target: 'sub.spf.po.2iij.net', live: true });
    expect(c.spf.resultIfLegacyDeleted).toBe('permerror');
    expect(c.spf.suggestedRecord).toBe('v=spf1 ip4:198.51.100.7 include:spf.gateway.example -all');
  });

  it("§5.2: a third party's CNAME to the legacy name: no record to publish, the owner named", async () => {
    const c = await check('cn-foreign.test');
    expect(c.spf.legacyReferences[0]).toMatchObject({ holder: 'cn-foreign.test', aliases: ['_spf.partner.example'] });
    // The term sits in the customer's own record, so the customer can replace it.
    expect(c.spf.suggestedRecord).toBe('v=spf1 include:spf.gateway.example -all');
  });

  it('§4.3: a domain that is itself a CNAME to the legacy record loses its SPF with it', async () => {
    const c = await check('apex-alias.test');
    expect(c.spf.legacyReferences[0]).toMatchObject({ term: 'CNAME spf.po.2iij.net', aliases: ['apex-alias.test'], live: true });
    expect(c.verdict).toBe('needs_spf_cleanup');
    expect(c.spf.resultIfLegacyDeleted).toBe('none');
    expect(c.spf.suggestion?.records[0]).toMatchObject({ name: 'apex-alias.test', record: 'v=spf1 include:spf.gateway.example -all' });
  });
});

describe('Aliases seen with or without CNAME questions', () => {
  /** The same resolver, its answers stripped of their chains: CNAME has to be asked, hop by hop. */
  const withoutChains = (): DnsLookup => ({
    description: dns.description,
    async query(type, name) {
      const { aliases: _dropped, ...answer } = (await dns.query(type, name)) as DnsOutcome<never> & { aliases?: string[] };
      return answer as never;
    },
  });
  const comparable = ({ durationMs: _d, checkedAt: _c, ...rest }: DomainEvaluation) => rest;
  const cnameQuestions = () => server.queries.filter((q) => q.startsWith('CNAME '));

  it.each(['cn.test', 'cn-sub.test', 'cn-foreign.test', 'apex-alias.test', 'testnet.test', 'minus.test', 'dkim.test', 'nodkim.test'])(
    "%s: the verdict read off the answers' chains is the one CNAME questions give, and asks no CNAME",
    async (domain) => {
      const before = cnameQuestions().length;
      const read = await evaluateDomain(domain, ids, dns);
      expect(cnameQuestions().length).toBe(before);
      const asked = await evaluateDomain(domain, ids, withoutChains());
      expect(comparable(asked)).toEqual(comparable(read));
      expect(cnameQuestions().length).toBeGreaterThan(before);
    },
  );
});

describe('2. The deleted world per client class (RFC 7208 §4.6.2, §7.3)', () => {
  it('§4.6.2: a record that authorizes 192.0.2.0/24 gets a stranger outside it, and permerror after the deletion', async () => {
    const c = await check('testnet.test');
    const stranger = client(c, 'stranger');
    expect(stranger.ip).not.toMatch(/^192\.0\.2\./);
    expect(stranger).toMatchObject({ now: 'fail', afterDeletion: 'permerror', matchedSomething: false });
    expect(c.spf.resultIfLegacyDeleted).toBe('permerror');
    expect(c.spf.legacyReferences[0]!.live).toBe(true);
  });

  it('§7.3: a sender macro that matches postmaster gets a stranger with another local part', async () => {
    const c = await check('localpart.test');
    expect(client(c, 'stranger').sender).not.toMatch(/^postmaster@/);
    expect(c.spf.resultIfLegacyDeleted).toBe('permerror');
  });

  it("§4.6.2: reports each class: the successor's servers and the legacy range, today and after the deletion", async () => {
    const c = await check('testnet.test');
    expect(client(c, 'successor')).toMatchObject({ ip: '203.0.113.1', now: 'fail', afterDeletion: 'permerror' });
    expect(client(c, 'legacy')).toMatchObject({ ip: '210.130.0.1', now: 'pass', afterDeletion: 'permerror' });
    expect(client(c, 'stranger_ipv6')).toMatchObject({ now: 'fail', afterDeletion: 'permerror' });
  });

  it('§5.6: ip4:0.0.0.0/0 passes every IPv4 client, but an IPv6 stranger still reaches the legacy include', async () => {
    const c = await check('v4-only.test');
    expect(client(c, 'stranger')).toMatchObject({ now: 'pass', afterDeletion: 'pass', everyClientMatches: true });
    expect(client(c, 'stranger_ipv6')).toMatchObject({ now: 'fail', afterDeletion: 'permerror' });
    expect(c.spf.resultIfLegacyDeleted).toBe('permerror');
    expect(c.spf.legacyReferences[0]!.live).toBe(true);
  });
});

describe('3. Suggestions proven by evaluation (RFC 7208 §5.1, §5.2, §6.1, §4.6.4)', () => {
  it('§5.2: -include:legacy becomes a + include of the successor, and the successor passes with it', async () => {
    const c = await check('minus.test');
    expect(c.spf.suggestedRecord).toBe('v=spf1 include:spf.gateway.example mx -all');
    expect(c.spf.suggestion?.results.find((r) => r.class === 'successor')?.result).toBe('pass');
  });

  it('§6.1: redirect=legacy beside the successor include keeps a stranger at fail, not neutral', async () => {
    const c = await check('redirect-both.test');
    expect(client(c, 'stranger').now).toBe('fail');
    expect(c.spf.suggestedRecord).toBe('v=spf1 include:spf.gateway.example -all');
    expect(c.spf.suggestion?.results.find((r) => r.class === 'stranger')?.result).toBe('fail');
  });

  it('§5.2: a successor listed first still passes after the deletion while strangers break', async () => {
    const c = await check('successor-first.test');
    expect(client(c, 'successor')).toMatchObject({ now: 'pass', afterDeletion: 'pass' });
    expect(c.spf.breaksAtDeletion).toBe(true);
    expect(c.impact[0]!.message).toContain("the successor's servers still get pass");
    expect(c.spf.suggestedRecord).toBe('v=spf1 include:spf.gateway.example -all');
  });

  it('§5.2: a fix the evaluation cannot prove is not shown (the successor record does not resolve)', async () => {
    const c = await check('minus.test', { ...ids, successorSpfIncludes: ['spf.missing.example'] });
    expect(c.spf.suggestedRecord).toBeNull();
    expect(c.spf.suggestion).toMatchObject({ verified: false, records: [{ record: 'v=spf1 include:spf.missing.example mx -all' }] });
    expect(c.spf.suggestion!.problems.join(' ')).toMatch(/permerror/);
    expect(c.impact.map((i) => i.code)).toContain('fix_not_verified');
  });
});

describe('4. Live means reached (RFC 7208 §4.6.4, §5.2)', () => {
  it('§4.6.4: a reference after the 10th lookup is present but not live', async () => {
    const c = await check('after-limit.test');
    expect(c.spf.legacyReferences).toEqual([expect.objectContaining({ term: 'include:spf.po.2iij.net', live: false })]);
    expect(c.spf.state).toBe('legacy_referenced');
    expect(c.spf.resultNow).toBe('permerror');
    expect(c.spf.breaksAtDeletion).toBe(false);
  });

  it('§5.2: a reference behind an include every client matches is present but not live', async () => {
    const c = await check('behind-allpass.test');
    expect(c.spf.legacyReferences[0]!.live).toBe(false);
    expect(client(c, 'stranger')).toMatchObject({ now: 'pass', afterDeletion: 'pass', everyClientMatches: true });
    expect(c.spf.breaksAtDeletion).toBe(false);
    expect(c.impact.map((i) => i.code)).toEqual(expect.arrayContaining(['dead_legacy_reference', 'spf_passes_everyone']));
  });
});

describe('5. The state agrees with evaluating the record (RFC 7208 §4.6.4, §5.2)', () => {
  it('§5.2: an include that passes every client is a match: 13 lookups written, 1 evaluated, no permerror', async () => {
    const c = await check('allpass-first.test');
    expect(c.spf).toMatchObject({ state: 'clean', resultNow: 'pass', lookupCount: 1, errors: [] });
  });

  it('§4.6.4: void lookups of exists: with sender macros count as the evaluation counts them', async () => {
    const c = await check('macro-voids.test');
    expect(c.spf).toMatchObject({ state: 'invalid', resultNow: 'permerror', voidLookupCount: 3 });
    expect(c.spf.errors.map((e) => e.kind)).toContain('void_limit');
    expect(c.instructions.en.join(' ')).not.toContain('Nothing to do');
    expect(c.instructions.en.join(' ')).toContain('already evaluates to permerror');
  });

  it('§4.6.4: the PTR question of a ptr term counts as a void lookup when nothing answers', async () => {
    const c = await check('ptr-voids.test');
    expect(c.spf).toMatchObject({ resultNow: 'permerror', voidLookupCount: 3 });
    expect(c.instructions.en.join(' ')).not.toContain('Nothing to do');
  });
});

describe('One evaluation per record text and client in a sweep (the sweep cache keeps it as long as its answers)', () => {
  it('a second domain publishing the same record gets the evaluation with its own name in every path and reason', async () => {
    const first = await check('same1.test');
    const second = await check('same2.test');
    expect(client(second, 'stranger').reasonNow).toBe(client(first, 'stranger').reasonNow.replace('same1.test', 'same2.test'));
    expect(client(second, 'stranger').reasonNow).toMatch(/^same2\.test: matched -all/);
    expect(second.spf.legacyReferences).toEqual([expect.objectContaining({ path: ['same2.test'], holder: 'same2.test', live: true })]);
    expect(second.spf.suggestedRecord).toBe('v=spf1 include:spf.gateway.example -all');
  });

  it('the analysis a template record gets from the sweep is exactly the one a fresh check of that domain makes', async () => {
    await check('same1.test');
    const kept = await check('same2.test');
    const fresh = await evaluateDomain('same2.test', ids, createResolver({ servers: [server.address], timeoutMs: 500, tries: 1 }));
    const timeless = ({ checkedAt: _at, durationMs: _ms, ...rest }: DomainEvaluation) => rest;
    expect(timeless(kept)).toEqual(timeless(fresh));
  });

  it("a record whose a term means the domain itself is evaluated for each domain: one matches the stranger's network, the other has no address", async () => {
    const withAddress = await check('own-a1.test');
    const without = await check('own-a2.test');
    expect(client(withAddress, 'stranger').ip).not.toBe('192.0.2.1');
    expect(client(without, 'stranger').ip).toBe('192.0.2.1');
  });
});

describe('DKIM evidence', () => {
  it('finds a selector still pointing at the legacy zone and a published successor key, which lowers the impact', async () => {
    const c = await check('dkim.test');
    expect(c.dkim.legacyCleanup).toEqual(['iij1._domainkey.dkim.test']);
    expect(c.dkim.successorKeyPublished).toBe(true);
    expect(c.impact[0]).toMatchObject({ code: 'rejected_at_deletion', severity: 'high' });
    expect(c.impact[0]!.message).toContain('aligned DKIM');
    expect(c.impact.map((i) => i.code)).toContain('legacy_dkim_selector');
    expect(c.instructions.en.join(' ')).toContain('Remove the DKIM selector iij1._domainkey.dkim.test');
  });

  it('a revoked successor key (empty p=) does not count', async () => {
    const c = await check('nodkim.test');
    expect(c.dkim.successorKeyPublished).toBe(false);
    expect(c.impact[0]).toMatchObject({ code: 'rejected_at_deletion', severity: 'critical' });
  });
});
