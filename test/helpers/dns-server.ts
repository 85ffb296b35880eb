import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

/** One record in a test zone; names are case-insensitive, without a trailing dot. */
export type ZoneRecord =
  { type: 'TXT'; data: string | string[] } | { type: 'A' | 'AAAA' | 'PTR' | 'CNAME'; data: string } | { type: 'MX'; data: [number, string] };

/**
 * How a name (or one type of it) misbehaves instead of answering. 'truncated' answers with the TC
 * bit over UDP and closes TCP connections unanswered: a server whose TCP is firewalled.
 */
export type Fault = 'timeout' | 'servfail' | 'refused' | 'truncated' | 'malformed';

export interface ZoneEntry {
  records?: ZoneRecord[];
  /** A fault for every query of this name… */
  fault?: Fault;
  /** …or for some types only… */
  faults?: Partial<Record<string, Fault>>;
  /** …or for the types this name has no records of. */
  faultWhenEmpty?: Fault;
  /** Answer only after this long (a slow server). */
  delayMs?: number;
}

export type Zone = Map<string, ZoneEntry>;

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODES;

/** The answer to one question, before it meets a transport. */
type Resolution = ({ fault: Fault } | { rcode: Rcode; answers: dnsPacket.Answer[] }) & { delayMs?: number | undefined };

/** CNAMEs followed for one question; one more is a loop (SERVFAIL), as recursive servers do. */
const MAX_CNAME_HOPS = 8;
/** RFC 1035 section 4.2.1: UDP answers to queries without EDNS0. */
const PLAIN_UDP_SIZE = 512;
/** The largest UDP answer this server sends, whatever a query advertises. */
const MAX_UDP_SIZE = 4096;
const EDNS0: dnsPacket.Answer = {
  type: 'OPT',
  name: '.',
  udpPayloadSize: MAX_UDP_SIZE,
  extendedRcode: 0,
  ednsVersion: 0,
  flags: 0,
  flag_do: false,
  options: [],
};

const key = (name: string) => name.toLowerCase().replace(/\.$/, '');

/**
 * A real authoritative-style DNS server on 127.0.0.1, UDP and TCP on one port, serving a zone from
 * memory, so tests exercise the production resolver end to end. Absent names answer NXDOMAIN;
 * present names without the type asked answer NOERROR with no records (NODATA). CNAME chains are
 * followed inside the zone; `*.` names are wildcards (RFC 4592). UDP answers that do not fit 512
 * bytes, or the size an EDNS0 query advertises, go out truncated (TC, no answers).
 */
export class TestDnsServer {
  private udp!: dgram.Socket;
  private tcp!: net.Server;
  private connections = new Set<net.Socket>();
  private pending = new Set<NodeJS.Timeout>();
  zone: Zone = new Map();
  /** Decides for names absent from the zone and not covered by a wildcard (default: NXDOMAIN). */
  onMissing?: (name: string) => ZoneEntry | undefined;
  /** Questions received over either transport, as `TYPE name`, for tests that count lookups. */
  readonly queries: string[] = [];
  /** The questions among `queries` that came over TCP. */
  readonly tcpQueries: string[] = [];
  port = 0;

  static async start(zone: Zone = new Map()): Promise<TestDnsServer> {
    const server = new TestDnsServer();
    server.zone = zone;
    await server.listen();
    return server;
  }

  get address() {
    return `127.0.0.1:${this.port}`;
  }

  set(name: string, entry: ZoneEntry) {
    this.zone.set(key(name), entry);
  }

  async close() {
    for (const timer of this.pending) clearTimeout(timer);
    for (const connection of this.connections) connection.destroy();
    await Promise.all([new Promise<void>((resolve) => this.udp.close(() => resolve())), new Promise((resolve) => this.tcp.close(resolve))]);
  }

  /** UDP takes a free port; TCP binds the same one, and a new pair is tried if TCP finds it taken. */
  private async listen() {
    for (let attempt = 1; ; attempt++) {
      const udp = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
      const tcp = net.createServer((connection) => this.serveTcp(connection));
      const listening = await new Promise<Error | undefined>((resolve) => {
        tcp.once('error', resolve);
        tcp.listen(udp.address().port, '127.0.0.1', () => resolve(undefined));
      });
      if (listening) {
        udp.close();
        if ((listening as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 20) continue;
        throw listening;
      }
      this.udp = udp;
      this.tcp = tcp;
      this.port = udp.address().port;
      udp.on('message', (msg, rinfo) => this.serveUdp(msg, rinfo));
      return;
    }
  }

  private serveUdp(msg: Buffer, rinfo: dgram.RemoteInfo) {
    const reply = (message: Buffer) => this.udp.send(message, rinfo.port, rinfo.address);
    this.answer(msg, 'udp', (query, resolution) => {
      if ('fault' in resolution && resolution.fault === 'malformed') return reply(msg.subarray(0, 7));
      if ('fault' in resolution && resolution.fault === 'truncated')
        return reply(encode(query, 'NOERROR', [], dnsPacket.TRUNCATED_RESPONSE | dnsPacket.RECURSION_DESIRED));
      if ('fault' in resolution) return reply(encode(query, resolution.fault === 'servfail' ? 'SERVFAIL' : 'REFUSED'));
      const full = encode(query, resolution.rcode, resolution.answers);
      const opt = query.additionals?.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined;
      const limit = opt ? Math.min(Math.max(opt.udpPayloadSize, PLAIN_UDP_SIZE), MAX_UDP_SIZE) : PLAIN_UDP_SIZE;
      const truncated = dnsPacket.TRUNCATED_RESPONSE | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE;
      reply(full.length <= limit ? full : encode(query, resolution.rcode, [], truncated));
    });
  }

  /** Length-prefixed messages (RFC 1035 section 4.2.2), as many as the client sends on one connection. */
  private serveTcp(connection: net.Socket) {
    this.connections.add(connection);
    connection.on('close', () => this.connections.delete(connection));
    connection.on('error', () => connection.destroy());
    let buffered = Buffer.alloc(0);
    const reply = (message: Buffer) => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length);
      if (!connection.destroyed) connection.write(Buffer.concat([length, message]));
    };
    connection.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const end = 2 + buffered.readUInt16BE(0);
        const msg = buffered.subarray(2, end);
        buffered = buffered.subarray(end);
        this.answer(msg, 'tcp', (query, resolution) => {
          if ('fault' in resolution && resolution.fault === 'malformed') return reply(msg.subarray(0, 7));
          if ('fault' in resolution && resolution.fault === 'truncated') return connection.destroy();
          if ('fault' in resolution) return reply(encode(query, resolution.fault === 'servfail' ? 'SERVFAIL' : 'REFUSED'));
          reply(encode(query, resolution.rcode, resolution.answers));
        });
      }
    });
  }

  /** Logs the question, resolves it and hands the result to the transport, after the name's delay. */
  private answer(msg: Buffer, transport: 'udp' | 'tcp', send: (query: dnsPacket.DecodedPacket, resolution: Resolution) => void) {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = key(question.name);
    const type = question.type as string;
    this.queries.push(`${type} ${name}`);
    if (transport === 'tcp') this.tcpQueries.push(`${type} ${name}`);
    const resolution = this.resolve(name, type);
    if ('fault' in resolution && resolution.fault === 'timeout') return;
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      send(query, resolution);
    }, resolution.delayMs ?? 0);
    this.pending.add(timer);
  }

  /**
   * Follows CNAMEs inside the zone. Every alias goes in the answer, then the records of the type
   * asked at the end of the chain; the response code is that of the last name (RFC 6604). A question
   * of type CNAME gets the name's own CNAME, unfollowed. A fault on any name of the chain wins.
   */
  private resolve(qname: string, type: string): Resolution {
    const answers: dnsPacket.Answer[] = [];
    let name = qname;
    let delayMs: number | undefined;
    for (let hops = 0; ; hops++) {
      const entry = this.find(name);
      if (!entry) return { rcode: 'NXDOMAIN', answers, delayMs };
      if (hops === 0) delayMs = entry.delayMs;
      const records = entry.records ?? [];
      const cname = records.find((r) => r.type === 'CNAME');
      const hasType = records.some((r) => r.type === type) || cname !== undefined;
      const fault = entry.faults?.[type] ?? entry.fault ?? (hasType ? undefined : entry.faultWhenEmpty);
      if (fault) return { fault, delayMs };
      if (!cname || type === 'CNAME') {
        for (const r of records) if (r.type === type) answers.push(toAnswer(name, r));
        return { rcode: 'NOERROR', answers, delayMs };
      }
      if (hops === MAX_CNAME_HOPS) return { rcode: 'SERVFAIL', answers: [], delayMs };
      answers.push(toAnswer(name, cname));
      name = key(cname.data as string);
    }
  }

  /** The zone's entry for a name: its own, a wildcard's, or what `onMissing` decides. */
  private find(name: string): ZoneEntry | undefined {
    return this.zone.get(name) ?? this.wildcardFor(name) ?? this.onMissing?.(name);
  }

  /**
   * RFC 4592: `*.<closest encloser>` answers for a name that does not exist, where the closest
   * encloser is its nearest existing ancestor. A name that exists between them, even one with no
   * records of its own but names below it, blocks the wildcard.
   */
  private wildcardFor(name: string): ZoneEntry | undefined {
    const labels = name.split('.');
    for (let i = 1; i < labels.length; i++) {
      const wildcard = this.zone.get(`*.${labels.slice(i).join('.')}`);
      if (!wildcard) continue;
      const between = labels.slice(0, i).map((_, j) => labels.slice(j).join('.'));
      const names = [...this.zone.keys()];
      const exists = (n: string) => names.some((k) => k === n || k.endsWith(`.${n}`));
      return between.some(exists) ? undefined : wildcard;
    }
    return undefined;
  }
}

/** A response to `query`; dns-packet encodes the response code only as the low 4 bits of `flags`. */
function encode(
  query: dnsPacket.DecodedPacket,
  rcode: Rcode,
  answers: dnsPacket.Answer[] = [],
  flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
) {
  const edns = query.additionals?.some((a) => a.type === 'OPT') ?? false;
  return dnsPacket.encode({
    id: query.id,
    type: 'response',
    questions: query.questions,
    answers,
    additionals: edns ? [EDNS0] : [],
    flags: flags | RCODES[rcode],
  });
}

function toAnswer(name: string, r: ZoneRecord): dnsPacket.Answer {
  switch (r.type) {
    case 'TXT': {
      const strings = (Array.isArray(r.data) ? r.data : [r.data]).map((s) => Buffer.from(s, 'utf8'));
      // dns-packet would write a wrong length byte instead of failing.
      if (strings.some((s) => s.length > 255)) throw new Error(`${name}: a TXT character-string holds at most 255 octets (RFC 1035 section 3.3)`);
      return { name, type: 'TXT', ttl: 60, data: strings };
    }
    case 'MX':
      return { name, type: 'MX', ttl: 60, data: { preference: r.data[0], exchange: r.data[1] } };
    default:
      return { name, type: r.type, ttl: 60, data: r.data } as dnsPacket.Answer;
  }
}
