import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import dnsPacket from 'dns-packet';
import type { DnsOutcome, RecordType } from './resolver.ts';

/**
 * A plain UDP DNS query, for the names c-ares refuses to send: DNS labels may hold any octet
 * (RFC 2181 section 11) and SPF macros make such names (`exists:%{l}._spf.%{d}` with a local-part
 * like "a b"), but c-ares only sends host names. Same servers, timeout and tries as the resolver.
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
      last = await askOnce(server, type, name, options.timeoutMs);
      if (last.status !== 'error' || last.error !== 'timeout') return last;
    }
  }
  return last;
}

function parseServer(server: string): { host: string; port: number } {
  const bracketed = /^\[(.+)\](?::(\d+))?$/.exec(server);
  if (bracketed) return { host: bracketed[1]!, port: Number(bracketed[2] ?? 53) };
  if (isIP(server) === 6) return { host: server, port: 53 };
  const [host, port] = server.split(':');
  return { host: host!, port: Number(port ?? 53) };
}

function askOnce(server: string, type: RecordType, name: string, timeoutMs: number): Promise<DnsOutcome<unknown>> {
  const { host, port } = parseServer(server);
  const socket = dgram.createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  const id = randomInt(0, 65536);
  return new Promise((resolve) => {
    const finish = (outcome: DnsOutcome<unknown>) => {
      clearTimeout(timer);
      socket.close();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ status: 'error', error: 'timeout', message: `ETIMEOUT: ${type} ${name}` }), timeoutMs);
    socket.on('error', (err) => finish({ status: 'error', error: 'other', message: err.message }));
    socket.on('message', (msg) => {
      let response: dnsPacket.Packet;
      try {
        response = dnsPacket.decode(msg);
      } catch {
        return finish({ status: 'error', error: 'other', message: `EBADRESP: ${type} ${name}` });
      }
      if (response.id !== id) return;
      finish(toOutcome(response, type, name));
    });
    const query = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
    socket.send(query, port, host);
  });
}

function toOutcome(response: dnsPacket.Packet, type: RecordType, name: string): DnsOutcome<unknown> {
  const rcode = (response as { rcode?: string }).rcode ?? 'NOERROR';
  if (rcode === 'NXDOMAIN') return { status: 'nxdomain' };
  if (rcode === 'SERVFAIL') return { status: 'error', error: 'servfail', message: `ESERVFAIL: ${type} ${name}` };
  if (rcode === 'REFUSED') return { status: 'error', error: 'refused', message: `EREFUSED: ${type} ${name}` };
  if (rcode !== 'NOERROR') return { status: 'error', error: 'other', message: `${rcode}: ${type} ${name}` };
  if ((response.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) return { status: 'error', error: 'other', message: `truncated answer: ${type} ${name}` };
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
