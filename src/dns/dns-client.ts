import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { DnsOutcome, RecordType } from './resolver.ts';

/** EDNS0 (RFC 6891) with the UDP payload size DNS flag day 2020 settled on: 1232 bytes fit an IPv6 MTU of 1280. */
const EDNS0_PAYLOAD = 1232;
const TYPE_CODES: Record<RecordType, number> = { A: 1, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28 };
/** UDP sockets a client spreads its questions over, each on its own random port. */
const SOCKETS = 4;
/** Questions a socket carries before a fresh one (a new random port) takes its place. */
const QUESTIONS_PER_SOCKET = 5_000;
/** An idle client closes its sockets after this long; the next question opens new ones. */
const IDLE_MS = 1_000;
/** CNAME hops read from one answer; a longer chain is cut here. */
const MAX_CHAIN = 16;

interface Server {
  host: string;
  port: number;
}

export interface DnsClientOptions {
  /** `host`, `host:port`, `[v6]:port` or a bare IPv6 address. */
  servers: string[];
  /** Per try, UDP and a TCP retry together. */
  timeoutMs: number;
  /** Each try asks every server in turn; only timeouts move on to the next. */
  tries: number;
  /** Default QUESTIONS_PER_SOCKET. */
  questionsPerSocket?: number;
  /** Default IDLE_MS. */
  idleMs?: number;
}

type Exchanged = { response: dnsPacket.DecodedPacket } | { failed: 'timeout' | 'other'; code: string };

interface Pending {
  name: string;
  type: RecordType;
  done: (result: Exchanged) => void;
}

/** A UDP socket connected to one server, and the questions in flight on it by id. */
interface Slot {
  socket: dgram.Socket;
  pending: Map<number, Pending>;
  asked: number;
  /** Questions given to it and not yet answered (or sent). */
  active: number;
  closed: boolean;
  connected: Promise<void>;
}

function closeSlot(slot: Slot) {
  if (slot.closed) return;
  slot.closed = true;
  slot.socket.close();
}

/**
 * A stub resolver of our own, UDP with EDNS0 and TCP when the answer is truncated (RFC 7766 §5),
 * in place of node's c-ares binding, for three reasons: it sends any legal DNS name (labels may
 * hold any octet, RFC 2181 §11, and SPF macros make such names; c-ares only sends host names), it
 * sends EDNS0 (node 20's c-ares does not), and its answers say which CNAME chain they came through,
 * which is how an alias of the legacy record is seen without a CNAME question per name.
 *
 * Questions share a few UDP sockets per server, each connected to it (so only its datagrams arrive)
 * on a random port replaced every few thousand questions, with random ids; an answer counts only
 * with our id, for our question.
 */
export class DnsClient {
  private readonly servers: Server[];
  /** Per server (by index): its connected sockets. */
  private slots: Slot[][] = [];
  private next = 0;
  private inFlight = 0;
  private idle: NodeJS.Timeout | undefined;
  private readonly perSocket: number;
  private readonly idleMs: number;

  constructor(private readonly options: DnsClientOptions) {
    this.servers = options.servers.map(parseServer);
    this.perSocket = options.questionsPerSocket ?? QUESTIONS_PER_SOCKET;
    this.idleMs = options.idleMs ?? IDLE_MS;
  }

  async query(type: RecordType, name: string): Promise<DnsOutcome<unknown>> {
    this.inFlight++;
    clearTimeout(this.idle);
    try {
      let last: DnsOutcome<unknown> = { status: 'error', error: 'other', message: 'no DNS server configured' };
      for (let attempt = 0; attempt < this.options.tries; attempt++) {
        for (let s = 0; s < this.servers.length; s++) {
          last = await this.askOnce(s, type, name, true);
          if (last.status !== 'error' || last.error !== 'timeout') return last;
        }
      }
      return last;
    } finally {
      if (--this.inFlight === 0) this.idle = setTimeout(() => this.closeSockets(), this.idleMs).unref();
    }
  }

  private async askOnce(s: number, type: RecordType, name: string, edns: boolean): Promise<DnsOutcome<unknown>> {
    const slot = await this.slotFor(s);
    const id = freeId(slot);
    const deadline = Date.now() + this.options.timeoutMs;
    let query: Buffer;
    let got: Exchanged;
    try {
      query = encodeQuery(id, type, name, edns);
      got = await this.overUdp(slot, query, id, type, name, deadline);
    } finally {
      // A worn-out socket closes once the last question it was given is answered.
      if (--slot.active === 0 && slot.asked >= this.perSocket) closeSlot(slot);
    }
    if ('response' in got && got.response.flag_tc) got = await overTcp(query, id, this.servers[s]!, deadline);
    if ('failed' in got) return { status: 'error', error: got.failed, message: `${got.code}: ${type} ${name}` };
    // A server that does not know EDNS0 answers FORMERR or NOTIMP: ask again without it (RFC 6891 §7).
    const rcode = rcodeOf(got.response);
    if (edns && (rcode === 'FORMERR' || rcode === 'NOTIMP')) return this.askOnce(s, type, name, false);
    return toOutcome(got.response, type, name);
  }

  private overUdp(slot: Slot, query: Buffer, id: number, type: RecordType, name: string, deadline: number): Promise<Exchanged> {
    return new Promise<Exchanged>((resolve) => {
      const timer = setTimeout(() => done({ failed: 'timeout', code: 'ETIMEOUT' }), Math.max(0, deadline - Date.now()));
      const done = (result: Exchanged) => {
        if (slot.pending.get(id)?.done !== done) return;
        clearTimeout(timer);
        slot.pending.delete(id);
        resolve(result);
      };
      slot.pending.set(id, { name: bare(name), type, done });
      // Connected: the kernel routes it once, and delivers only the server's datagrams to it. A send
      // error surfaces on the socket's 'error' event.
      slot.socket.send(query);
    });
  }

  /** One of the server's sockets, in turn; a worn-out one is replaced by a new one (a new random port). */
  private async slotFor(s: number): Promise<Slot> {
    const slots = (this.slots[s] ??= []);
    const index = this.next++ % SOCKETS;
    let slot = slots[index];
    if (!slot || slot.asked >= this.perSocket || slot.closed) {
      if (slot && slot.active === 0) closeSlot(slot);
      slot = openSlot(this.servers[s]!);
      slots[index] = slot;
    }
    slot.asked++;
    slot.active++;
    await slot.connected;
    return slot;
  }

  private closeSockets() {
    if (this.inFlight > 0) return;
    for (const slot of this.slots.flat()) closeSlot(slot);
    this.slots = [];
  }
}

/** An id no question in flight on this socket uses. */
function freeId(slot: Slot): number {
  for (;;) {
    const id = randomInt(0, 65536);
    if (!slot.pending.has(id)) return id;
  }
}

function openSlot(server: Server): Slot {
  const socket = dgram.createSocket(net.isIP(server.host) === 6 ? 'udp6' : 'udp4');
  socket.unref();
  const slot: Slot = {
    socket,
    pending: new Map(),
    asked: 0,
    active: 0,
    closed: false,
    connected: new Promise((resolve) => socket.connect(server.port, server.host, resolve)),
  };
  socket.on('error', (err) => {
    for (const p of [...slot.pending.values()]) p.done({ failed: 'other', code: (err as NodeJS.ErrnoException).code ?? err.message });
  });
  socket.on('message', (message) => {
    if (message.length < 12) return;
    const pending = slot.pending.get(message.readUInt16BE(0));
    if (!pending) return;
    let response: dnsPacket.DecodedPacket;
    try {
      response = dnsPacket.decode(message);
    } catch {
      return pending.done({ failed: 'other', code: 'EBADRESP' });
    }
    const question = response.questions?.[0];
    // An answer to another question (a late or forged one) is not ours.
    if (!question || question.type !== pending.type || bare(question.name) !== pending.name) return;
    pending.done({ response });
  });
  return slot;
}

function parseServer(server: string): Server {
  const bracketed = /^\[(.+)\](?::(\d+))?$/.exec(server);
  if (bracketed) return { host: bracketed[1]!, port: Number(bracketed[2] ?? 53) };
  if (net.isIP(server) === 6) return { host: server, port: 53 };
  const [host, port] = server.split(':');
  return { host: host!, port: Number(port ?? 53) };
}

/** One TCP exchange: each message behind its two-byte length (RFC 1035 section 4.2.2). */
function overTcp(query: Buffer, id: number, server: Server, deadline: number): Promise<Exchanged> {
  return new Promise((resolve) => {
    const socket = net.connect(server.port, server.host);
    let settled = false;
    const finish = (result: Exchanged) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ failed: 'timeout', code: 'ETIMEOUT' }), Math.max(0, deadline - Date.now()));
    let buffered = Buffer.alloc(0);
    socket.on('error', (err) => finish({ failed: 'other', code: err.message }));
    socket.on('close', () => finish({ failed: 'other', code: 'ECONNRESET: closed without an answer' }));
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const end = 2 + buffered.readUInt16BE(0);
        const message = buffered.subarray(2, end);
        buffered = buffered.subarray(end);
        let response: dnsPacket.DecodedPacket;
        try {
          response = dnsPacket.decode(message);
        } catch {
          return finish({ failed: 'other', code: 'EBADRESP' });
        }
        if (response.id === id) return finish({ response });
      }
    });
    const length = Buffer.alloc(2);
    length.writeUInt16BE(query.length);
    socket.write(Buffer.concat([length, query]));
  });
}

/**
 * A query message (RFC 1035 §4.1): header with RD set, one question of class IN, and the EDNS0 OPT
 * record (RFC 6891 §6.1.2: root name, type 41, class the UDP payload size) when asked. Labels are
 * written as their UTF-8 octets, whatever they hold.
 */
export function encodeQuery(id: number, type: RecordType, name: string, edns: boolean): Buffer {
  const trimmed = name.replace(/^\.|\.$/g, '');
  const labels = trimmed === '' ? [] : trimmed.split('.').map((label) => Buffer.from(label, 'utf8'));
  const nameLength = labels.reduce((n, l) => n + 1 + l.length, 1);
  const message = Buffer.alloc(12 + nameLength + 4 + (edns ? 11 : 0));
  message.writeUInt16BE(id, 0);
  message.writeUInt16BE(0x0100, 2); // RD
  message.writeUInt16BE(1, 4); // QDCOUNT
  if (edns) message.writeUInt16BE(1, 10); // ARCOUNT
  let at = 12;
  for (const label of labels) {
    message[at++] = label.length;
    label.copy(message, at);
    at += label.length;
  }
  message[at++] = 0;
  message.writeUInt16BE(TYPE_CODES[type], at);
  message.writeUInt16BE(1, at + 2); // IN
  at += 4;
  if (edns) {
    message[at++] = 0; // root
    message.writeUInt16BE(41, at); // OPT
    message.writeUInt16BE(EDNS0_PAYLOAD, at + 2);
    // TTL (extended rcode, version, flags) and RDLENGTH stay zero.
  }
  return message;
}

/** dns-packet decodes the rcode but its types do not declare it. */
const rcodeOf = (response: dnsPacket.DecodedPacket) => (response as { rcode?: string }).rcode ?? 'NOERROR';

const bare = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** The CNAME chain an answer came through, from the name asked: the names after it, in order. */
function aliasesIn(response: dnsPacket.DecodedPacket, name: string): string[] {
  const targets = new Map<string, string>();
  for (const a of response.answers ?? []) if (a.type === 'CNAME') targets.set(bare(a.name), bare(a.data as string));
  const chain: string[] = [];
  for (
    let at = bare(name), next = targets.get(at);
    next !== undefined && chain.length < MAX_CHAIN && !chain.includes(next);
    at = next, next = targets.get(at)
  ) {
    chain.push(next);
  }
  return chain;
}

function toOutcome(response: dnsPacket.DecodedPacket, type: RecordType, name: string): DnsOutcome<unknown> {
  const rcode = rcodeOf(response);
  if (rcode === 'SERVFAIL') return { status: 'error', error: 'servfail', message: `ESERVFAIL: ${type} ${name}` };
  if (rcode === 'REFUSED') return { status: 'error', error: 'refused', message: `EREFUSED: ${type} ${name}` };
  if (rcode !== 'NOERROR' && rcode !== 'NXDOMAIN') return { status: 'error', error: 'other', message: `${rcode}: ${type} ${name}` };
  if (response.flag_tc) return { status: 'error', error: 'other', message: `truncated answer over TCP: ${type} ${name}` };
  // A CNAME question is answered by the alias itself, never followed.
  const chain = type === 'CNAME' ? [] : aliasesIn(response, name);
  const via = chain.length > 0 ? { aliases: chain } : {};
  if (rcode === 'NXDOMAIN') return { status: 'nxdomain', ...via };
  // Through a CNAME chain the answer holds the aliases too; only records of the type asked, owned by
  // the name the chain ends at, count.
  const owner = chain.length > 0 ? chain[chain.length - 1]! : bare(name);
  const records = (response.answers ?? [])
    .filter((a) => a.type === type && bare(a.name) === owner)
    .map((a) => {
      const data = (a as { data: unknown }).data;
      if (type === 'TXT') return (data as Buffer[]).map((b) => b.toString('utf8'));
      if (type === 'MX') return { exchange: (data as { exchange: string }).exchange, priority: (data as { preference: number }).preference };
      return data;
    });
  return records.length === 0 ? { status: 'nodata', ...via } : { status: 'ok', records, ...via };
}
