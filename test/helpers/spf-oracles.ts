import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { forEachConcurrently } from '../../src/lib/batches.ts';
import { createCachedLookup, createResolver, type DnsLookup } from '../../src/dns/resolver.ts';
import { checkHost, type SpfResult } from '../../src/dns/spf/check-host.ts';
import { TestDnsServer, type Zone } from './dns-server.ts';
import { WORLDS, type Client, type GeneratedDomain, type SpfWorlds, type World } from './spf-zone-generator.ts';

/**
 * Independent SPF implementations run as oracles: pyspf (Debian python3-spf + python3-dnspython) and
 * Mail::SPF (libmail-spf-perl), each as a long-lived driver process (test/oracles/) that reads one
 * check_host() question per line and asks only its own loopback DNS server. One question at a time
 * per driver, so the server's query log tells exactly which names each evaluation asked for.
 */

export type OracleName = 'pyspf' | 'mailspf';
export const ORACLES: readonly OracleName[] = ['pyspf', 'mailspf'];

export interface OracleQuestion {
  ip: string;
  /** The MAIL FROM address; check_host() uses "postmaster" when it has no local part. */
  sender: string;
  helo: string;
  /** Where check_host() starts: the sender's domain for the MAIL FROM identity. */
  domain: string;
}

export interface OracleAnswer {
  /** Undefined when the oracle itself failed (`error` says how). */
  result: SpfResult | undefined;
  error?: string;
  /** What the evaluation asked its DNS server, in order, as `TYPE name` (lower case, no trailing dot). */
  queries: string[];
}

const oraclesDir = path.resolve(import.meta.dirname, '..', 'oracles');
// Debian's interpreters: `python3` on PATH may be a pyenv shim without Debian's packages.
const commands: Record<OracleName, { command: string; script: string; probe: string[]; install: string }> = {
  pyspf: {
    command: '/usr/bin/python3',
    script: path.join(oraclesDir, 'pyspf-driver.py'),
    probe: ['-c', 'import spf, dns.resolver'],
    install: 'apt-get install python3-spf python3-dnspython',
  },
  mailspf: {
    command: '/usr/bin/perl',
    script: path.join(oraclesDir, 'mailspf-driver.pl'),
    probe: ['-MMail::SPF', '-MNet::DNS', '-MJSON::PP', '-e', '1'],
    install: 'apt-get install libmail-spf-perl',
  },
};

/** Why an oracle cannot run here, or undefined when it can. */
export function oracleUnavailable(name: OracleName): string | undefined {
  const { command, probe, install } = commands[name];
  const run = spawnSync(command, probe, { encoding: 'utf8', timeout: 30_000 });
  if (run.error) return `${name}: ${command} cannot run (${run.error.message}); ${install}`;
  if (run.status !== 0) return `${name}: ${command} ${probe.join(' ')} failed (${run.stderr.trim().split('\n').at(-1)}); ${install}`;
  return undefined;
}

const RESULTS = new Set<string>(['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror']);

/** One driver process with its own DNS server, answering one question at a time. */
export class OracleDriver {
  /** Questions sent or queued and not answered yet. */
  load = 0;
  private nextId = 0;
  private pending = new Map<number, (line: { result?: string; error?: string }) => void>();
  private queue: Promise<unknown> = Promise.resolve();
  private stderr = '';
  private exited: Promise<void>;
  private exitedWith: string | undefined;

  private constructor(
    readonly name: OracleName,
    readonly server: TestDnsServer,
    private child: ChildProcessWithoutNullStreams,
  ) {
    readline.createInterface({ input: child.stdout }).on('line', (text) => {
      let line: { id: number; result?: string; error?: string };
      try {
        line = JSON.parse(text) as typeof line;
      } catch {
        this.stderr = `${this.stderr}\nstdout: ${text}`.slice(-4000);
        return;
      }
      this.pending.get(line.id)?.(line);
      this.pending.delete(line.id);
    });
    child.stderr.on('data', (d) => (this.stderr = (this.stderr + d).slice(-4000)));
    // A driver that died answers every question with its last words instead of leaving it waiting.
    child.stdin.on('error', () => undefined);
    const end = (why: string) => {
      this.exitedWith ??= `${name} driver ${why}: ${this.stderr}`;
      for (const settle of this.pending.values()) settle({ error: this.exitedWith });
      this.pending.clear();
    };
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => resolve(end(`exited (${code ?? signal})`)));
      child.on('error', (err) => resolve(end(`failed (${err.message})`)));
    });
  }

  static async start(name: OracleName, zone: Zone): Promise<OracleDriver> {
    const server = await TestDnsServer.start(zone);
    const { command, script } = commands[name];
    const child = spawn(command, [script, '127.0.0.1', String(server.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new OracleDriver(name, server, child);
  }

  /** check_host() by this oracle, with the DNS questions it asked (queued behind earlier questions). */
  evaluate(question: OracleQuestion): Promise<OracleAnswer> {
    this.load++;
    const run = async (): Promise<OracleAnswer> => {
      const id = this.nextId++;
      const from = this.server.queries.length;
      const line = await new Promise<{ result?: string; error?: string }>((resolve) => {
        if (this.exitedWith) return resolve({ error: this.exitedWith });
        this.pending.set(id, resolve);
        this.child.stdin.write(`${JSON.stringify({ id, ...question })}\n`);
      });
      const queries = this.server.queries.slice(from);
      // Only this evaluation's questions are needed; keep the logs from growing over thousands of them.
      this.server.queries.length = 0;
      this.server.tcpQueries.length = 0;
      this.load--;
      if (line.result !== undefined && RESULTS.has(line.result)) return { result: line.result as SpfResult, queries };
      return { result: undefined, error: line.error ?? `unexpected answer ${JSON.stringify(line)}`, queries };
    };
    const answer = this.queue.then(run);
    this.queue = answer.catch(() => undefined);
    return answer;
  }

  async close() {
    this.child.stdin.end();
    await this.exited;
    await this.server.close();
  }
}

/** Several drivers of one oracle over the same zone, each with its own DNS server, sharing the work. */
export class OraclePool {
  private constructor(
    readonly name: OracleName,
    private drivers: OracleDriver[],
  ) {}

  static async start(name: OracleName, zone: Zone, size: number): Promise<OraclePool> {
    return new OraclePool(name, await Promise.all(Array.from({ length: size }, () => OracleDriver.start(name, zone))));
  }

  /** One question, to the driver with the fewest waiting. */
  evaluateOne(question: OracleQuestion): Promise<OracleAnswer> {
    return this.drivers.reduce((best, d) => (d.load < best.load ? d : best)).evaluate(question);
  }

  /** Answers in the order of the questions. */
  evaluate(questions: OracleQuestion[]): Promise<OracleAnswer[]> {
    return Promise.all(questions.map((q) => this.evaluateOne(q)));
  }

  async close() {
    await Promise.all(this.drivers.map((d) => d.close()));
  }
}

// ---------------------------------------------------------------------------------------------
// The differential run: every domain × world × client through our checkHost and both oracles.

export interface Evaluation {
  result: SpfResult | undefined;
  error?: string;
  /** `TYPE name` asked, in order. */
  queries: string[];
  /** Whether the evaluation asked for a name at or under the legacy name, or aliased there. */
  reachedLegacy: boolean;
  /** Ours only: the counts and the reason checkHost gave. */
  lookups?: number;
  voidLookups?: number;
  reason?: string;
  /**
   * Oracles in the deleted world only: taken from the today world's evaluation, which asked no name
   * the deletion changes (so the same questions get the same answers).
   */
  reused?: boolean;
}

export interface DifferentialCase {
  domain: GeneratedDomain;
  world: World;
  client: Client;
  ours: Evaluation;
  oracles: Record<OracleName, Evaluation>;
}

/** A lookup that notes every question asked through it (in front of the shared cache). */
function recordingLookup(inner: DnsLookup): { dns: DnsLookup; queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    dns: {
      description: inner.description,
      query(type, name) {
        queries.push(`${type} ${name.toLowerCase().replace(/\.$/, '')}`);
        return inner.query(type, name);
      },
    },
  };
}

const nameOf = (query: string) => query.slice(query.indexOf(' ') + 1);

/**
 * Evaluates every domain of `worlds` for each of its clients in both worlds: our checkHost through
 * the production resolver (one cached lookup per world, as a sweep uses it), and every oracle in
 * `oracles` through its own pool of drivers and DNS servers.
 */
export async function runDifferential(
  worlds: SpfWorlds,
  oracles: readonly OracleName[],
  options: { driversPerPool?: number } = {},
): Promise<DifferentialCase[]> {
  const cases: DifferentialCase[] = [];
  for (const world of WORLDS)
    for (const domain of worlds.domains)
      for (const client of domain.clients)
        cases.push({ domain, world, client, ours: { result: undefined, queries: [], reachedLegacy: false }, oracles: {} as Record<OracleName, Evaluation> });
  const reached = (queries: string[]) => queries.some((q) => worlds.reachesLegacy(nameOf(q)));
  const question = (c: DifferentialCase): OracleQuestion => ({ ip: c.client.ip, sender: c.client.sender, helo: c.client.helo, domain: c.domain.name });

  const ours = async () => {
    for (const world of WORLDS) {
      const server = await TestDnsServer.start(worlds.zones[world]);
      try {
        // Generous timeouts: the loopback servers share the machine with both oracles' processes.
        const shared = createCachedLookup(createResolver({ servers: [server.address], timeoutMs: 5000 }));
        await forEachConcurrently(
          cases.filter((c) => c.world === world),
          32,
          async (c) => {
            const { dns, queries } = recordingLookup(shared);
            const r = await checkHost(c.client.ip, c.domain.name, c.client.sender, { dns, helo: c.client.helo });
            c.ours = { result: r.result, queries, reachedLegacy: reached(queries), lookups: r.lookups, voidLookups: r.voidLookups, reason: r.reason };
          },
        );
      } finally {
        await server.close();
      }
    }
  };

  const oracle = async (name: OracleName) => {
    const size = options.driversPerPool ?? 3;
    const pools = { today: await OraclePool.start(name, worlds.zones.today, size), deleted: await OraclePool.start(name, worlds.zones.deleted, size) };
    const evaluate = async (world: World, c: DifferentialCase) => {
      const answer = await pools[world].evaluateOne(question(c));
      return (c.oracles[name] = { ...answer, reachedLegacy: reached(answer.queries) });
    };
    try {
      const deletedOf = new Map(cases.filter((c) => c.world === 'deleted').map((c) => [`${c.domain.index} ${c.client.kind}`, c]));
      await Promise.all(
        cases
          .filter((c) => c.world === 'today')
          .map(async (c) => {
            const today = await evaluate('today', c);
            const deleted = deletedOf.get(`${c.domain.index} ${c.client.kind}`)!;
            // An evaluation that asked no name the deletion changes gets the same answers, so the same result.
            if (today.reachedLegacy || today.result === undefined) await evaluate('deleted', deleted);
            else deleted.oracles[name] = { ...today, reused: true };
          }),
      );
    } finally {
      await Promise.all([pools.today.close(), pools.deleted.close()]);
    }
  };

  await Promise.all([ours(), ...oracles.map(oracle)]);
  return cases;
}
