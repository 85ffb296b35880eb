import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

/** One record in a test zone; names are case-insensitive, without a trailing dot. */
export type ZoneRecord =
  | { type: 'TXT'; data: string | string[] }
  | { type: 'A' | 'AAAA' | 'PTR' | 'CNAME'; data: string }
  | { type: 'MX'; data: [number, string] };

/** How a name (or one type of it) misbehaves instead of answering. */
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

const key = (name: string) => name.toLowerCase().replace(/\.$/, '');

/**
 * A real authoritative-style DNS server on 127.0.0.1 (UDP), serving a zone from memory, so tests
 * exercise the production resolver end to end. Absent names answer NXDOMAIN; present names without
 * the type asked answer NOERROR with no records (NODATA); a CNAME is followed one level.
 */
export class TestDnsServer {
  private socket = dgram.createSocket('udp4');
  zone: Zone = new Map();
  /** Decides for names absent from the zone (default: NXDOMAIN). */
  onMissing?: (name: string) => ZoneEntry | undefined;
  /** Queries received, as `TYPE name`, for tests that count lookups. */
  readonly queries: string[] = [];
  port = 0;

  static async start(zone: Zone = new Map()): Promise<TestDnsServer> {
    const server = new TestDnsServer();
    server.zone = zone;
    await new Promise<void>((resolve) => server.socket.bind(0, '127.0.0.1', resolve));
    server.port = server.socket.address().port;
    server.socket.on('message', (msg, rinfo) => server.answer(msg, rinfo));
    return server;
  }

  get address() {
    return `127.0.0.1:${this.port}`;
  }

  set(name: string, entry: ZoneEntry) {
    this.zone.set(key(name), entry);
  }

  close() {
    return new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private answer(msg: Buffer, rinfo: dgram.RemoteInfo) {
    let query: dnsPacket.Packet;
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
    const entry = this.zone.get(name) ?? this.onMissing?.(name);
    const hasType = entry?.records?.some((r) => r.type === type || r.type === 'CNAME') ?? false;
    const fault = entry?.faults?.[type] ?? entry?.fault ?? (hasType ? undefined : entry?.faultWhenEmpty);
    // dns-packet encodes the response code only as the low 4 bits of `flags`.
    const send = (packet: Partial<dnsPacket.Packet> & { rcode?: keyof typeof RCODES }) =>
      void setTimeout(() => this.socket.send(
        dnsPacket.encode({
          id: query.id,
          type: 'response',
          questions: [question],
          ...packet,
          flags: (packet.flags ?? dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE) | RCODES[packet.rcode ?? 'NOERROR'],
        } as dnsPacket.Packet),
        rinfo.port,
        rinfo.address,
      ), entry?.delayMs ?? 0);
    switch (fault) {
      case 'timeout':
        return;
      case 'servfail':
        return send({ rcode: 'SERVFAIL' });
      case 'refused':
        return send({ rcode: 'REFUSED' });
      case 'truncated':
        return send({ flags: dnsPacket.TRUNCATED_RESPONSE | dnsPacket.RECURSION_DESIRED, answers: [] });
      case 'malformed':
        return this.socket.send(msg.subarray(0, 7), rinfo.port, rinfo.address);
    }
    if (!entry) return send({ rcode: 'NXDOMAIN' });
    const answers: dnsPacket.Answer[] = [];
    const add = (owner: string, records: ZoneRecord[]) => {
      for (const r of records) if (r.type === type) answers.push(toAnswer(owner, r));
    };
    const cname = entry.records?.find((r) => r.type === 'CNAME');
    if (cname && type !== 'CNAME') {
      answers.push(toAnswer(name, cname));
      add(key(cname.data as string), this.zone.get(key(cname.data as string))?.records ?? []);
    } else {
      add(name, entry.records ?? []);
    }
    return send({ answers });
  }
}

function toAnswer(name: string, r: ZoneRecord): dnsPacket.Answer {
  switch (r.type) {
    case 'TXT':
      return { name, type: 'TXT', ttl: 60, data: (Array.isArray(r.data) ? r.data : [r.data]).map((s) => Buffer.from(s, 'utf8')) } as dnsPacket.Answer;
    case 'MX':
      return { name, type: 'MX', ttl: 60, data: { preference: r.data[0], exchange: r.data[1] } };
    default:
      return { name, type: r.type, ttl: 60, data: r.data } as dnsPacket.Answer;
  }
}
