import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawQuery } from '../src/dns/raw-query.ts';
import { createResolver, type DnsLookup } from '../src/dns/resolver.ts';
import { TestDnsServer, type ZoneRecord } from './helpers/dns-server.ts';

let server: TestDnsServer;
let dns: DnsLookup;
const timing = { timeoutMs: 1000, tries: 1 };
const raw = (type: Parameters<typeof rawQuery>[1], name: string) => rawQuery([server.address], type, name, timing);
const overTcp = (name: string) => server.tcpQueries.filter((q) => q.endsWith(` ${name}`));

/** Distinct TXT strings of `size` octets. */
const strings = (count: number, size: number) => Array.from({ length: count }, (_, i) => `${i}`.padEnd(size, String.fromCharCode(97 + i)));
const txt = (...data: (string | string[])[]): ZoneRecord[] => data.map((d) => ({ type: 'TXT', data: d }));
const cname = (target: string): ZoneRecord => ({ type: 'CNAME', data: target });
/** The size of the answer on the wire, to show which side of 512 and 1,232 bytes a fixture falls. */
const wireSize = (name: string, records: string[][]) =>
  dnsPacket.encode({
    type: 'response',
    questions: [{ type: 'TXT', name }],
    answers: records.map((data) => ({ type: 'TXT', name, ttl: 60, data: data.map((s) => Buffer.from(s)) })),
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  }).length;

const tenRecords = strings(10, 200).map((s) => [s]);
const oneLongRecord = [strings(6, 250)];
const fourRecords = strings(4, 200).map((s) => [s]);

beforeAll(async () => {
  server = await TestDnsServer.start();
  const set = (name: string, ...records: ZoneRecord[]) => server.set(name, { records });
  for (const name of ['big.test', 'raw.big.test', 'a b.big.test']) set(name, ...txt(...tenRecords.flat()));
  set('long.big.test', ...txt(oneLongRecord[0]!));
  set('a b.long.big.test', ...txt(oneLongRecord[0]!));
  set('medium.test', ...txt(...fourRecords.flat()));
  server.set('slow.big.test', { records: txt(...tenRecords.flat()), delayMs: 200 });
  server.set('no-tcp.test', { fault: 'truncated' });
  // CNAME chains.
  set('alias1.chain.test', cname('alias2.chain.test'));
  set('alias2.chain.test', cname('target.chain.test'));
  set('target.chain.test', ...txt('v=spf1 -all'));
  set('dangling.chain.test', cname('gone.chain.test'));
  set('loop1.chain.test', cname('loop2.chain.test'));
  set('loop2.chain.test', cname('loop1.chain.test'));
  set('a b.chain.test', cname('alias1.chain.test'));
  // Wildcards.
  set('*.wild.test', ...txt('from the wildcard'));
  set('exact.wild.test', ...txt('exact'));
  set('host.sub.wild.test', ...txt('below sub'));
  set('*.alias.test', cname('target.chain.test'));
  dns = createResolver({ servers: [server.address], ...timing });
});
afterAll(() => server.close());

describe('answers larger than a UDP datagram', () => {
  it('fixtures fall where the tests need them: 10 records and one long record over 1,232 bytes, 4 records between 512 and 1,232', () => {
    expect(wireSize('raw.big.test', tenRecords)).toBeGreaterThan(1232);
    expect(wireSize('long.big.test', oneLongRecord)).toBeGreaterThan(1232);
    expect(wireSize('medium.test', fourRecords)).toBeGreaterThan(512);
    expect(wireSize('medium.test', fourRecords)).toBeLessThan(1232);
  });

  it('c-ares returns a TXT RRset over 1,232 bytes completely, asking again over TCP', async () => {
    const outcome = await dns.query('TXT', 'big.test');
    expect(outcome).toEqual({ status: 'ok', records: expect.arrayContaining(tenRecords) });
    expect(outcome.status === 'ok' && outcome.records).toHaveLength(10);
    expect(overTcp('big.test')).toEqual(['TXT big.test']);
  });

  it('the raw path returns a TXT RRset over 1,232 bytes completely, asking again over TCP', async () => {
    const outcome = await raw('TXT', 'raw.big.test');
    expect(outcome).toEqual({ status: 'ok', records: expect.arrayContaining(tenRecords) });
    expect(outcome.status === 'ok' && outcome.records).toHaveLength(10);
    expect(overTcp('raw.big.test')).toEqual(['TXT raw.big.test']);
  });

  it('a name c-ares refuses goes out raw and gets the whole RRset over TCP', async () => {
    await expect(dns.query('TXT', 'a b.big.test')).resolves.toEqual({ status: 'ok', records: expect.arrayContaining(tenRecords) });
    expect(overTcp('a b.big.test')).toEqual(['TXT a b.big.test']);
  });

  it('one record of 1,500 bytes in six strings comes whole, strings apart, on both paths', async () => {
    await expect(dns.query('TXT', 'long.big.test')).resolves.toEqual({ status: 'ok', records: oneLongRecord });
    await expect(dns.query('TXT', 'a b.long.big.test')).resolves.toEqual({ status: 'ok', records: oneLongRecord });
    expect(overTcp('a b.long.big.test')).toEqual(['TXT a b.long.big.test']);
  });

  it('the raw path gets an answer between 512 and 1,232 bytes over UDP thanks to EDNS0, without TCP', async () => {
    const outcome = await raw('TXT', 'medium.test');
    expect(outcome).toEqual({ status: 'ok', records: expect.arrayContaining(fourRecords) });
    expect(outcome.status === 'ok' && outcome.records).toHaveLength(4);
    expect(server.queries.filter((q) => q === 'TXT medium.test')).toHaveLength(1);
    expect(overTcp('medium.test')).toEqual([]);
  });

  it('the TCP retry spends the same timeout as the UDP question, not a new one', async () => {
    // 200 ms for the truncated UDP answer, 200 more over TCP: past a 300 ms timeout, within 1 s.
    await expect(rawQuery([server.address], 'TXT', 'slow.big.test', { timeoutMs: 300, tries: 1 })).resolves.toMatchObject({ status: 'error', error: 'timeout' });
    await expect(raw('TXT', 'slow.big.test')).resolves.toMatchObject({ status: 'ok' });
  });

  it('a truncated answer from a server without TCP is an error, never an empty answer', async () => {
    await expect(raw('TXT', 'no-tcp.test')).resolves.toMatchObject({ status: 'error', error: 'other' });
    expect(overTcp('no-tcp.test')).toEqual(['TXT no-tcp.test']);
  });
});

describe('CNAME chains', () => {
  it('TXT through a two-hop chain returns the target records, on both paths', async () => {
    const expected = { status: 'ok', records: [['v=spf1 -all']] };
    await expect(dns.query('TXT', 'alias1.chain.test')).resolves.toEqual(expected);
    await expect(raw('TXT', 'alias1.chain.test')).resolves.toEqual(expected);
    await expect(dns.query('TXT', 'a b.chain.test')).resolves.toEqual(expected);
  });

  it('a chain ending at an absent name is NXDOMAIN, on both paths', async () => {
    await expect(dns.query('TXT', 'dangling.chain.test')).resolves.toEqual({ status: 'nxdomain' });
    await expect(raw('TXT', 'dangling.chain.test')).resolves.toEqual({ status: 'nxdomain' });
  });

  it('a chain ending at a name without the type asked is NODATA', async () => {
    await expect(dns.query('A', 'alias1.chain.test')).resolves.toEqual({ status: 'nodata' });
    await expect(raw('A', 'alias1.chain.test')).resolves.toEqual({ status: 'nodata' });
  });

  it('a CNAME question returns the alias target, unfollowed and without a trailing dot', async () => {
    await expect(dns.query('CNAME', 'alias1.chain.test')).resolves.toEqual({ status: 'ok', records: ['alias2.chain.test'] });
    await expect(raw('CNAME', 'alias1.chain.test')).resolves.toEqual({ status: 'ok', records: ['alias2.chain.test'] });
    await expect(raw('CNAME', 'target.chain.test')).resolves.toEqual({ status: 'nodata' });
  });

  it('a CNAME loop is SERVFAIL', async () => {
    await expect(raw('TXT', 'loop1.chain.test')).resolves.toMatchObject({ status: 'error', error: 'servfail' });
    await expect(dns.query('TXT', 'loop1.chain.test')).resolves.toMatchObject({ status: 'error' });
  });
});

describe('wildcards', () => {
  it('answer for names one or more labels below, under the name asked', async () => {
    // c-ares drops answers whose owner is not the name asked: an ok answer shows the owner is the query name.
    await expect(dns.query('TXT', 'any.wild.test')).resolves.toEqual({ status: 'ok', records: [['from the wildcard']] });
    await expect(dns.query('TXT', 'two.labels.wild.test')).resolves.toEqual({ status: 'ok', records: [['from the wildcard']] });
    await expect(raw('TXT', 'a b.wild.test')).resolves.toEqual({ status: 'ok', records: [['from the wildcard']] });
  });

  it('leave names in the zone, and names below another existing name, alone', async () => {
    await expect(dns.query('TXT', 'exact.wild.test')).resolves.toEqual({ status: 'ok', records: [['exact']] });
    await expect(dns.query('A', 'any.wild.test')).resolves.toEqual({ status: 'nodata' });
    // sub.wild.test exists (it has a name below it), so it is the closest encloser and has no wildcard.
    await expect(dns.query('TXT', 'other.sub.wild.test')).resolves.toEqual({ status: 'nxdomain' });
  });

  it('a wildcard CNAME is followed like any other', async () => {
    await expect(dns.query('TXT', 'www.alias.test')).resolves.toEqual({ status: 'ok', records: [['v=spf1 -all']] });
    await expect(dns.query('CNAME', 'www.alias.test')).resolves.toEqual({ status: 'ok', records: ['target.chain.test'] });
  });
});
