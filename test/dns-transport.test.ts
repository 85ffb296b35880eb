import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsClient, encodeQuery } from '../src/dns/dns-client.ts';
import { createResolver, type DnsLookup } from '../src/dns/resolver.ts';
import { TestDnsServer, type ZoneRecord } from './helpers/dns-server.ts';

let server: TestDnsServer;
let dns: DnsLookup;
const timing = { timeoutMs: 1000, tries: 1 };
const client = (options = timing) => new DnsClient({ servers: [server.address], ...options });
const raw = (type: Parameters<DnsClient['query']>[0], name: string) => client().query(type, name);
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

  it('the resolver returns a TXT RRset over 1,232 bytes completely, asking again over TCP', async () => {
    const outcome = await dns.query('TXT', 'big.test');
    expect(outcome).toEqual({ status: 'ok', records: expect.arrayContaining(tenRecords) });
    expect(outcome.status === 'ok' && outcome.records).toHaveLength(10);
    expect(overTcp('big.test')).toEqual(['TXT big.test']);
  });

  it('the client alone returns a TXT RRset over 1,232 bytes completely, asking again over TCP', async () => {
    const outcome = await raw('TXT', 'raw.big.test');
    expect(outcome).toEqual({ status: 'ok', records: expect.arrayContaining(tenRecords) });
    expect(outcome.status === 'ok' && outcome.records).toHaveLength(10);
    expect(overTcp('raw.big.test')).toEqual(['TXT raw.big.test']);
  });

  it('a legal DNS name that is no host name (a space in a label) is asked too, and gets the whole RRset over TCP', async () => {
    await expect(dns.query('TXT', 'a b.big.test')).resolves.toEqual({ status: 'ok', records: expect.arrayContaining(tenRecords) });
    expect(overTcp('a b.big.test')).toEqual(['TXT a b.big.test']);
  });

  it('one record of 1,500 bytes in six strings comes whole, strings apart', async () => {
    await expect(dns.query('TXT', 'long.big.test')).resolves.toEqual({ status: 'ok', records: oneLongRecord });
    await expect(dns.query('TXT', 'a b.long.big.test')).resolves.toEqual({ status: 'ok', records: oneLongRecord });
    expect(overTcp('a b.long.big.test')).toEqual(['TXT a b.long.big.test']);
  });

  it('an answer between 512 and 1,232 bytes comes over UDP thanks to EDNS0, without TCP', async () => {
    const outcome = await raw('TXT', 'medium.test');
    expect(outcome).toEqual({ status: 'ok', records: expect.arrayContaining(fourRecords) });
    expect(outcome.status === 'ok' && outcome.records).toHaveLength(4);
    expect(server.queries.filter((q) => q === 'TXT medium.test')).toHaveLength(1);
    expect(overTcp('medium.test')).toEqual([]);
  });

  it('the TCP retry spends the same timeout as the UDP question, not a new one', async () => {
    // 200 ms for the truncated UDP answer, 200 more over TCP: past a 300 ms timeout, within 1 s.
    await expect(client({ timeoutMs: 300, tries: 1 }).query('TXT', 'slow.big.test')).resolves.toMatchObject({ status: 'error', error: 'timeout' });
    await expect(raw('TXT', 'slow.big.test')).resolves.toMatchObject({ status: 'ok' });
  });

  it('a truncated answer from a server without TCP is an error, never an empty answer', async () => {
    await expect(raw('TXT', 'no-tcp.test')).resolves.toMatchObject({ status: 'error', error: 'other' });
    expect(overTcp('no-tcp.test')).toEqual(['TXT no-tcp.test']);
  });
});

describe('CNAME chains', () => {
  it('TXT through a two-hop chain returns the target records and the chain it came through', async () => {
    const expected = { status: 'ok', records: [['v=spf1 -all']], aliases: ['alias2.chain.test', 'target.chain.test'] };
    await expect(dns.query('TXT', 'alias1.chain.test')).resolves.toEqual(expected);
    await expect(raw('TXT', 'alias1.chain.test')).resolves.toEqual(expected);
    await expect(dns.query('TXT', 'a b.chain.test')).resolves.toEqual({ ...expected, aliases: ['alias1.chain.test', ...expected.aliases] });
  });

  it('an answer of a name that is no alias carries no chain', async () => {
    await expect(dns.query('TXT', 'target.chain.test')).resolves.toEqual({ status: 'ok', records: [['v=spf1 -all']] });
    expect(dns.reportsAliases).toBe(true);
  });

  it('a chain ending at an absent name is NXDOMAIN, with the chain that dangles', async () => {
    await expect(dns.query('TXT', 'dangling.chain.test')).resolves.toEqual({ status: 'nxdomain', aliases: ['gone.chain.test'] });
  });

  it('a chain ending at a name without the type asked is NODATA, with the chain', async () => {
    await expect(dns.query('A', 'alias1.chain.test')).resolves.toEqual({ status: 'nodata', aliases: ['alias2.chain.test', 'target.chain.test'] });
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
    // The client drops records whose owner is not the name asked (or its chain's end): an ok answer shows the owner is the query name.
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
    await expect(dns.query('TXT', 'www.alias.test')).resolves.toEqual({ status: 'ok', records: [['v=spf1 -all']], aliases: ['target.chain.test'] });
    await expect(dns.query('CNAME', 'www.alias.test')).resolves.toEqual({ status: 'ok', records: ['target.chain.test'] });
  });
});

describe('the client', () => {
  /** A UDP server of its own that answers each question as `respond` says (null: not at all). */
  async function udpServer(respond: (query: dnsPacket.DecodedPacket) => Buffer | null) {
    const socket = dgram.createSocket('udp4');
    const seen: { port: number; query: dnsPacket.DecodedPacket }[] = [];
    socket.on('message', (message, from) => {
      const query = dnsPacket.decode(message);
      seen.push({ port: from.port, query });
      const answer = respond(query);
      if (answer) socket.send(answer, from.port, from.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return { address: `127.0.0.1:${socket.address().port}`, seen, close: () => socket.close() };
  }
  /** The rcode sits in the low four bits of the flags. */
  const FORMERR = 1;
  const answer = (query: dnsPacket.DecodedPacket, changes: Partial<dnsPacket.Packet> = {}) =>
    dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: query.questions,
      answers: [{ type: 'TXT', name: query.questions![0]!.name, ttl: 60, data: 'ok' }],
      ...changes,
    } as dnsPacket.Packet);

  it('ignores answers with another id or to another question, and takes the one that is ours', async () => {
    let round = 0;
    const server = await udpServer((query) =>
      round++ % 2 === 0 ? answer(query, { id: (query.id! + 1) % 65536 }) : answer(query, { questions: [{ type: 'TXT', name: 'other.test' }] }),
    );
    // Each try gets a forged answer only (another id, then another question): the client times out rather than believe one.
    const forgedOnly = new DnsClient({ servers: [server.address], timeoutMs: 200, tries: 2 });
    await expect(forgedOnly.query('TXT', 'x.test')).resolves.toMatchObject({ status: 'error', error: 'timeout' });
    expect(server.seen).toHaveLength(2);
    server.close();

    const honest = await udpServer((query) => answer(query));
    await expect(new DnsClient({ servers: [honest.address], timeoutMs: 500, tries: 1 }).query('TXT', 'x.test')).resolves.toEqual({
      status: 'ok',
      records: [['ok']],
    });
    honest.close();
  });

  it('asks again without EDNS0 a server that answers FORMERR to it (RFC 6891 §7)', async () => {
    const server = await udpServer((query) =>
      query.additionals?.some((a) => a.type === 'OPT') ? answer(query, { answers: [], flags: dnsPacket.RECURSION_DESIRED | FORMERR }) : answer(query),
    );
    await expect(new DnsClient({ servers: [server.address], timeoutMs: 500, tries: 1 }).query('TXT', 'old.test')).resolves.toEqual({
      status: 'ok',
      records: [['ok']],
    });
    expect(server.seen.map((s) => s.query.additionals?.length ?? 0)).toEqual([1, 0]);
    server.close();
  });

  it('spreads questions over a few sockets with random ports and random ids', async () => {
    const server = await udpServer((query) => answer(query));
    const many = new DnsClient({ servers: [server.address], timeoutMs: 500, tries: 1 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => many.query('TXT', `n${i}.test`)));
    const ports = new Set(server.seen.map((s) => s.port));
    expect(ports.size).toBeGreaterThan(1);
    expect(ports.size).toBeLessThanOrEqual(4);
    expect(new Set(server.seen.map((s) => s.query.id)).size).toBeGreaterThan(30);
    server.close();
  });

  it('renews a socket (a new port) after its share of questions, and opens new ones after an idle spell', async () => {
    const server = await udpServer((query) => answer(query));
    const renewing = new DnsClient({ servers: [server.address], timeoutMs: 500, tries: 1, questionsPerSocket: 3, idleMs: 20 });
    // In flight together and one after another: a worn-out socket closes once its last answer is in.
    await Promise.all(Array.from({ length: 24 }, (_, i) => renewing.query('TXT', `p${i}.test`)));
    for (let i = 0; i < 12; i++) await expect(renewing.query('TXT', `s${i}.test`)).resolves.toMatchObject({ status: 'ok' });
    expect(new Set(server.seen.map((s) => s.port)).size).toBeGreaterThanOrEqual(12);
    await new Promise((r) => setTimeout(r, 60));
    await expect(renewing.query('TXT', 'after-idle.test')).resolves.toEqual({ status: 'ok', records: [['ok']] });
    server.close();
  });

  it('encodes a query as dns-packet does, byte for byte, with and without EDNS0', () => {
    for (const [type, name] of [
      ['TXT', 'example.jp'],
      ['AAAA', 'mail.d1.example.jp.'],
      ['MX', 'a b.test'],
      ['PTR', '1.2.0.192.in-addr.arpa'],
      ['CNAME', 'ü.example'],
    ] as const) {
      for (const edns of [true, false]) {
        const expected = dnsPacket.encode({
          type: 'query',
          id: 4242,
          flags: dnsPacket.RECURSION_DESIRED,
          questions: [{ type, name, class: 'IN' }],
          ...(edns
            ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] }
            : {}),
        } as dnsPacket.Packet);
        expect(encodeQuery(4242, type, name, edns).toString('hex')).toBe(expected.toString('hex'));
      }
    }
  });

  it('answers EBADNAME for what no DNS name can be, without asking', async () => {
    const before = server.queries.length;
    await expect(dns.query('TXT', `${'a'.repeat(64)}.test`)).resolves.toMatchObject({ status: 'error', error: 'badname' });
    await expect(dns.query('TXT', 'two..dots.test')).resolves.toMatchObject({ status: 'error', error: 'badname' });
    expect(server.queries.length).toBe(before);
  });
});
