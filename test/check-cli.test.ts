import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domains } from '../db/schema/index.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { TestDnsServer } from './helpers/dns-server.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner } from './helpers/factories.ts';
import { runProcess } from './helpers/processes.ts';

let server: TestDnsServer;
let t: TestApp;
let env: Record<string, string>;

beforeAll(async () => {
  server = await TestDnsServer.start();
  server.set('spf.po.2iij.net', { records: [{ type: 'TXT', data: 'v=spf1 ip4:210.130.0.0/16 -all' }] });
  server.set('spf.gateway.example', { records: [{ type: 'TXT', data: 'v=spf1 ip4:203.0.113.0/24 ~all' }] });
  server.set('legacy.example.jp', {
    records: [
      { type: 'TXT', data: 'v=spf1 include:spf.po.2iij.net -all' },
      { type: 'MX', data: [10, 'mx1.po.2iij.net'] },
    ],
  });
  server.set('_dmarc.legacy.example.jp', { records: [{ type: 'TXT', data: 'v=DMARC1; p=reject; pct=100' }] });
  server.set('done.example.jp', {
    records: [
      { type: 'TXT', data: 'v=spf1 include:spf.gateway.example -all' },
      { type: 'MX', data: [10, 'in1.mx.gateway.example'] },
    ],
  });
  server.set('slow.example.jp', { fault: 'timeout' });
  t = await buildTestApp();
  env = { DNS_SERVERS: server.address, DNS_TIMEOUT_MS: '300', DATABASE_URL: t.databaseUrl };
});
afterAll(async () => {
  await server.close();
  await t.close();
});

const flags = [
  '--legacy-spf-include',
  'spf.po.2iij.net',
  '--legacy-mx-suffix',
  'po.2iij.net',
  '--successor-spf-include',
  'spf.gateway.example',
  '--successor-mx-suffix',
  'mx.gateway.example',
];

describe('check', () => {
  it('prints one JSON object per domain, in input order, with the contracted fields and nothing else', async () => {
    const res = await runProcess('src/cli.ts', ['check', 'legacy.example.jp', 'DONE.example.jp.', 'slow.example.jp', '--json', ...flags], env);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    const [legacy, done, slow] = lines.map((l) => JSON.parse(l));
    expect(legacy).toMatchObject({
      domain: 'legacy.example.jp',
      checkedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      verdict: 'needs_mx_and_spf',
      mx: { state: 'legacy', hosts: [{ exchange: 'mx1.po.2iij.net', priority: 10, side: 'legacy' }] },
      spf: {
        state: 'legacy_referenced',
        records: ['v=spf1 include:spf.po.2iij.net -all'],
        lookupCount: 1,
        voidLookupCount: 0,
        legacyReferences: [{ term: 'include:spf.po.2iij.net', path: ['legacy.example.jp'] }],
        errors: [],
        resultIfLegacyDeleted: 'permerror',
        suggestedRecord: 'v=spf1 include:spf.gateway.example -all',
        suggestedLookupCount: 1,
      },
      dmarc: { record: 'v=DMARC1; p=reject; pct=100', policy: 'reject', orgDomain: 'legacy.example.jp', deprecatedTags: ['pct'] },
    });
    expect(legacy.impact[0]).toMatchObject({ severity: 'critical' });
    expect(done).toMatchObject({ domain: 'done.example.jp', verdict: 'clean' });
    expect(slow).toMatchObject({ domain: 'slow.example.jp', verdict: 'unknown' });
  });

  it('exits 3 with --fail-on when a domain gets one of those verdicts (for scripts and CI), 0 when none does, 64 for an unknown verdict', async () => {
    const failOn = ['--fail-on', 'needs_spf_cleanup,needs_mx_and_spf'];
    const failing = await runProcess('src/cli.ts', ['check', 'legacy.example.jp', 'done.example.jp', '--json', ...failOn, ...flags], env);
    expect(failing.code).toBe(3);
    expect(failing.stdout.trim().split('\n')).toHaveLength(2);
    expect(failing.stderr).toContain('1 domain(s) with a verdict in --fail-on');
    expect((await runProcess('src/cli.ts', ['check', 'done.example.jp', ...failOn, ...flags], env)).code).toBe(0);
    const typo = await runProcess('src/cli.ts', ['check', 'done.example.jp', '--fail-on', 'needs_spf', ...flags], env);
    expect(typo.code).toBe(64);
    expect(typo.stderr).toContain('needs_spf is not a verdict');
    const version = await runProcess('src/cli.ts', ['--version'], env);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
  });

  it('reads domains from stdin with "-", and prints a readable tree without --json', async () => {
    const res = await runProcess('src/cli.ts', ['check', '-', ...flags], env, 'legacy.example.jp\n# a comment\ndone.example.jp\n');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^legacy\.example\.jp {2}needs_mx_and_spf$/m);
    expect(res.stdout).toMatch(/fix for legacy\.example\.jp: v=spf1 include:spf\.gateway\.example -all \(1 lookups\)/);
    expect(res.stdout).toMatch(/^done\.example\.jp {2}clean$/m);
    expect(res.stdout.includes('\u001b[')).toBe(false);
  });

  it('takes the identifiers from a program', async () => {
    const program = await makeProgram(t.db, {
      legacySpfIncludes: ['spf.po.2iij.net'],
      legacyMxHostSuffixes: ['po.2iij.net'],
      successorSpfIncludes: ['spf.gateway.example'],
    });
    const res = await runProcess('src/cli.ts', ['check', 'legacy.example.jp', '--json', '--program', program.id], env);
    expect(JSON.parse(res.stdout)).toMatchObject({ verdict: 'needs_mx_and_spf', spf: { suggestedRecord: 'v=spf1 include:spf.gateway.example -all' } });
  });

  it('looks up DKIM selectors from a program and from the options', async () => {
    server.set('s1._domainkey.legacy.example.jp', { records: [{ type: 'CNAME', data: 's1.dkim.po.2iij.net' }] });
    server.set('s1.dkim.po.2iij.net', { records: [{ type: 'TXT', data: 'v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1' }] });
    server.set('gw1._domainkey.legacy.example.jp', { records: [{ type: 'TXT', data: 'v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC2' }] });
    const program = await makeProgram(t.db, { legacySpfIncludes: ['spf.po.2iij.net'], legacyDkimSelectors: ['s1'], legacyDkimTargets: ['dkim.po.2iij.net'] });
    const res = await runProcess('src/cli.ts', ['check', 'legacy.example.jp', '--json', '--program', program.id, '--successor-dkim-selector', 'GW1'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).dkim).toMatchObject({
      legacyCleanup: ['s1._domainkey.legacy.example.jp'],
      successorKeyPublished: true,
      selectors: [
        { selector: 's1', pointsInto: 'legacy' },
        { selector: 'gw1', side: 'successor', cnameTarget: null, keyPublished: true },
      ],
    });
    const bad = await runProcess('src/cli.ts', ['check', 'legacy.example.jp', ...flags, '--legacy-dkim-selector', 's1._domainkey'], env);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--legacy-dkim-selector "s1\._domainkey" includes _domainkey/);
  });

  it('refuses to judge without legacy identifiers, and reports unusable domain names', async () => {
    const none = await runProcess('src/cli.ts', ['check', 'legacy.example.jp'], env);
    expect(none.code).toBe(64);
    expect(none.stderr).toMatch(/name the legacy service/);
    const bad = await runProcess('src/cli.ts', ['check', '192.0.2.1', 'done.example.jp', '--json', ...flags], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/skipped "192\.0\.2\.1": is an IP address/);
    expect(bad.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('jobs run dns-sweep checks every due domain once, at the time given', async () => {
    const program = await makeProgram(t.db, { legacySpfIncludes: ['spf.po.2iij.net'], legacyMxHostSuffixes: ['po.2iij.net'] });
    const owner = await makeSalesOwner(t.db);
    const customer = await makeCustomer(t.db, program.id, owner.id);
    const due = await makeDomain(t.db, customer, {
      name: 'legacy.example.jp',
      displayName: 'legacy.example.jp',
      nextCheckAt: new Date('2022-05-01T00:00:00Z'),
    });
    await makeDomain(t.db, customer, { name: 'done.example.jp', displayName: 'done.example.jp', nextCheckAt: new Date('2022-07-01T00:00:00Z') });
    const res = await runProcess('src/cli.ts', ['jobs', 'run', 'dns-sweep', '--program', program.id, '--now', '2022-06-01T09:00:00+09:00'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ checked: 1, needs_mx_and_spf: 1 });
    const [row] = await t.db.select().from(domains).where(eq(domains.id, due.id));
    expect(row).toMatchObject({ latestVerdict: 'needs_mx_and_spf', lastCheckedAt: new Date('2022-06-01T00:00:00Z') });
    const unknownJob = await runProcess('src/cli.ts', ['jobs', 'run', 'launch-rockets'], env);
    expect(unknownJob.code).toBe(64);
  });
});

describe('spf-test', () => {
  it('prints check_host() for one server today and after the deletion, with the terms evaluated', async () => {
    const res = await runProcess('src/cli.ts', ['spf-test', 'legacy.example.jp', '210.130.1.1', '--legacy-spf-include', 'spf.po.2iij.net'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('legacy.example.jp: 210.130.1.1 as postmaster@legacy.example.jp');
    expect(res.stdout).toMatch(/today: pass \(legacy\.example\.jp: matched include:spf\.po\.2iij\.net/);
    expect(res.stdout).toMatch(/after the deletion: permerror \(include:spf\.po\.2iij\.net: spf\.po\.2iij\.net has no SPF record/);
    expect(res.stdout).toContain('legacy.example.jp: include:spf.po.2iij.net followed');
  });

  it('answers in JSON with the sender and HELO given', async () => {
    const res = await runProcess(
      'src/cli.ts',
      [
        'spf-test',
        'done.example.jp',
        '203.0.113.9',
        '--sender',
        'a@done.example.jp',
        '--helo',
        'mx.example.net',
        '--json',
        '--legacy-spf-include',
        'spf.po.2iij.net',
      ],
      env,
    );
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({
      sender: 'a@done.example.jp',
      helo: 'mx.example.net',
      today: { result: 'pass' },
      afterDeletion: { result: 'pass' },
    });
  });

  it('says what is missing: the address, or the legacy record', async () => {
    const noIp = await runProcess('src/cli.ts', ['spf-test', 'done.example.jp', 'nonsense', '--legacy-spf-include', 'spf.po.2iij.net'], env);
    expect(noIp.code).not.toBe(0);
    expect(noIp.stderr).toContain('"nonsense" is not one');
    const noLegacy = await runProcess('src/cli.ts', ['spf-test', 'done.example.jp', '192.0.2.1'], env);
    expect(noLegacy.stderr).toContain('--legacy-spf-include');
  });
});
