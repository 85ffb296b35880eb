import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { DnsOutcome, RecordType } from './resolver.ts';

/** EDNS0 (RFC 6891) with the UDP payload size DNS flag day 2020 settled on: 1232 bytes fit an IPv6 MTU of 1280. */
const EDNS0: dnsPacket.Answer = { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };

interface Server {
  host: string;
  port: number;
}

/**
 * A plain DNS query, for the names c-ares refuses to send: DNS labels may hold any octet
 * (RFC 2181 section 11) and SPF macros make such names (`exists:%{l}._spf.%{d}` with a local-part
 * like "a b"), but c-ares only sends host names. Same servers, timeout and tries as the resolver.
 * UDP with EDNS0 first; a truncated answer is asked again over TCP within the same timeout.
 */
export async function rawQuery(
  servers: string[],
  type: RecordType,
  name: string,
  options: { timeoutMs: number; tries: number },
): Promise<DnsOutcome<unknown>> {
  let last: DnsOutcome<unknown> = { status: 'error', error: 'other', message: 'no DNS server configured' };
  for (let attempt = 0; attempt < options.tries; attempt++) {
    for (const server of servers) {
      last = await askOnce(parseServer(server), type, name, options.timeoutMs);
      if (last.status !== 'error' || last.error !== 'timeout') return last;
    }
  }
  return last;
}

function parseServer(server: string): Server {
  const bracketed = /^\[(.+)\](?::(\d+))?$/.exec(server);
  if (bracketed) return { host: bracketed[1]!, port: Number(bracketed[2] ?? 53) };
  if (net.isIP(server) === 6) return { host: server, port: 53 };
  const [host, port] = server.split(':');
  return { host: host!, port: Number(port ?? 53) };
}

async function askOnce(server: Server, type: RecordType, name: string, timeoutMs: number): Promise<DnsOutcome<unknown>> {
  const id = randomInt(0, 65536);
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: [EDNS0],
  });
  const deadline = Date.now() + timeoutMs;
  let got = await overUdp(query, id, server, deadline);
  // RFC 7766 section 5: a truncated answer is asked again over TCP.
  if ('response' in got && got.response.flag_tc) got = await overTcp(query, id, server, deadline);
  if ('failed' in got) return { status: 'error', error: got.failed, message: `${got.code}: ${type} ${name}` };
  return toOutcome(got.response, type, name);
}

type Exchanged = { response: dnsPacket.DecodedPacket } | { failed: 'timeout' | 'other'; code: string };

/** One UDP exchange on a fresh socket, so every question leaves from a new random port. */
function overUdp(query: Buffer, id: number, server: Server, deadline: number): Promise<Exchanged> {
  const socket = dgram.createSocket(net.isIP(server.host) === 6 ? 'udp6' : 'udp4');
  return exchange(id, deadline, () => socket.close(), (receive, fail) => {
    socket.on('error', (err) => fail(err.message));
    socket.on('message', receive);
    socket.send(query, server.port, server.host);
  });
}

/** One TCP exchange: each message behind its two-byte length (RFC 1035 section 4.2.2). */
function overTcp(query: Buffer, id: number, server: Server, deadline: number): Promise<Exchanged> {
  const socket = net.connect(server.port, server.host);
  return exchange(id, deadline, () => socket.destroy(), (receive, fail) => {
    let buffered = Buffer.alloc(0);
    socket.on('error', (err) => fail(err.message));
    socket.on('close', () => fail('ECONNRESET: closed without an answer'));
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const end = 2 + buffered.readUInt16BE(0);
        receive(buffered.subarray(2, end));
        buffered = buffered.subarray(end);
      }
    });
    const length = Buffer.alloc(2);
    length.writeUInt16BE(query.length);
    socket.write(Buffer.concat([length, query]));
  });
}

/** Waits until `deadline` for the answer with our id; messages with another id are ignored. */
function exchange(
  id: number,
  deadline: number,
  cleanup: () => void,
  start: (receive: (message: Buffer) => void, fail: (code: string) => void) => void,
): Promise<Exchanged> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Exchanged) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cleanup();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ failed: 'timeout', code: 'ETIMEOUT' }), Math.max(0, deadline - Date.now()));
    start(
      (message) => {
        let response: dnsPacket.DecodedPacket;
        try {
          response = dnsPacket.decode(message);
        } catch {
          return finish({ failed: 'other', code: 'EBADRESP' });
        }
        if (response.id === id) finish({ response });
      },
      (code) => finish({ failed: 'other', code }),
    );
  });
}

function toOutcome(response: dnsPacket.DecodedPacket, type: RecordType, name: string): DnsOutcome<unknown> {
  const rcode = (response as { rcode?: string }).rcode ?? 'NOERROR';
  if (rcode === 'NXDOMAIN') return { status: 'nxdomain' };
  if (rcode === 'SERVFAIL') return { status: 'error', error: 'servfail', message: `ESERVFAIL: ${type} ${name}` };
  if (rcode === 'REFUSED') return { status: 'error', error: 'refused', message: `EREFUSED: ${type} ${name}` };
  if (rcode !== 'NOERROR') return { status: 'error', error: 'other', message: `${rcode}: ${type} ${name}` };
  if (response.flag_tc) return { status: 'error', error: 'other', message: `truncated answer over TCP: ${type} ${name}` };
  // Through a CNAME chain the answer holds the aliases too; only records of the type asked count.
  const records = (response.answers ?? [])
    .filter((a) => a.type === type)
    .map((a) => {
      const data = (a as { data: unknown }).data;
      if (type === 'TXT') return (data as Buffer[]).map((b) => b.toString('utf8'));
      if (type === 'MX') return { exchange: (data as { exchange: string }).exchange, priority: (data as { preference: number }).preference };
      return data;
    });
  return records.length === 0 ? { status: 'nodata' } : { status: 'ok', records };
}
