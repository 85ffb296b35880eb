import fs from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pino } from 'pino';
import { roles, verdicts, type Role } from '../db/schema/enums.ts';
import type { Actor } from './audit/audit-repository.ts';
import { openDataStore } from './bootstrap.ts';
import { loadConfig, type Config } from './config.ts';
import { AppError } from './errors.ts';
import { forEachConcurrently } from './lib/batches.ts';
import type { FinishedJob } from '../jobs/inline.ts';
import { buildJobSystem } from '../jobs/system.ts';
import type { Enqueue } from './job-contract/catalogue.ts';
import { identifiersOf } from './probes/probe-service.ts';
import { evaluateDomain, type Identifiers } from './dns/evaluate-domain.ts';
import { formatEvaluation } from './dns/evaluation-report.ts';
import { normalizeDnsName } from './dns/dns-name.ts';
import { testSpf } from './dns/spf-test.ts';
import { createCachedLookup, createResolver } from './dns/resolver.ts';
import { findProgramById } from './programs/program-repository.ts';
import { normalizeDkimSelector } from './programs/dkim-selector.ts';
import { importFile, type ImportProgress } from './imports/import-service.ts';
import { generateOpenApiYaml } from './openapi.ts';
import { listTokens } from './tokens/token-repository.ts';
import { createToken, describeToken, revokeToken } from './tokens/token-service.ts';

interface Command {
  usage: string;
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(args: { values: Record<string, string | boolean | undefined>; positionals: string[] }, config: () => Config): Promise<void>;
}

class UsageError extends Error {}

const out = (line: string) => process.stdout.write(`${line}\n`);
const cliActor = (): Actor => ({ name: `cli:${os.userInfo().username}` });

/** Opens the database for one command and closes it after, whatever happens. */
async function withDatabase<T>(config: Config, fn: (db: Awaited<ReturnType<typeof openDataStore>>['db']) => Promise<T>) {
  const database = await openDataStore(config, pino({ level: 'warn' }, pino.destination(2)));
  try {
    return await fn(database.db);
  } finally {
    await database.close();
  }
}

const commands: Record<string, Command> = {
  'token create': {
    usage: 'token create --role admin|manager|sales --name NAME [--sales-owner ID] [--department NAME] [--expires-in-days N] [--json]',
    summary: 'Create an API token and print it (shown only this once)',
    options: {
      role: { type: 'string' },
      name: { type: 'string' },
      'sales-owner': { type: 'string' },
      department: { type: 'string' },
      'expires-in-days': { type: 'string' },
      json: { type: 'boolean' },
    },
    async run({ values }, config) {
      const role = values.role as string | undefined;
      if (!role || !(roles as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${roles.join(', ')}`);
      if (!values.name) throw new UsageError('--name is required (who or what the token is for)');
      let expiresAt: Date | undefined;
      if (values['expires-in-days'] !== undefined) {
        const days = Number(values['expires-in-days']);
        if (!Number.isInteger(days) || days < 1) throw new UsageError('--expires-in-days must be a whole number of days, 1 or more');
        expiresAt = new Date(Date.now() + days * 86_400_000);
      }
      const { token, row } = await withDatabase(config(), (db) =>
        createToken(
          db,
          {
            name: String(values.name),
            role: role as Role,
            salesOwnerId: values['sales-owner'] as string | undefined,
            department: values.department as string | undefined,
            expiresAt,
          },
          cliActor(),
        ),
      );
      if (values.json) out(JSON.stringify({ token, ...describeToken(row) }));
      else out(token);
    },
  },
  'token list': {
    usage: 'token list [--json]',
    summary: 'List tokens (never their secrets)',
    options: { json: { type: 'boolean' } },
    async run({ values }, config) {
      const rows = await withDatabase(config(), (db) => listTokens(db));
      if (values.json) {
        for (const row of rows) out(JSON.stringify(describeToken(row)));
        return;
      }
      for (const row of rows) {
        const state = row.revokedAt ? 'revoked' : row.expiresAt && row.expiresAt < new Date() ? 'expired' : 'active';
        const binding = `${row.department ? ` department=${row.department}` : ''}${row.salesOwnerId ? ` owner=${row.salesOwnerId}` : ''}`;
        out(
          `${row.id}  ${row.tokenPrefix}…  ${row.role.padEnd(7)} ${state.padEnd(7)} ${row.name}${binding}  last used ${row.lastUsedAt?.toISOString() ?? 'never'}`,
        );
      }
    },
  },
  'token revoke': {
    usage: 'token revoke ID',
    summary: 'Revoke a token; it stops working at once',
    options: {},
    async run({ positionals }, config) {
      const id = positionals[0];
      if (!id || !/^[0-9a-f-]{36}$/i.test(id)) throw new UsageError('give the token id (a UUID, see token list)');
      const row = await withDatabase(config(), (db) => revokeToken(db, id, cliActor(), new Date()));
      out(`revoked ${row.id} (${row.name}) at ${row.revokedAt!.toISOString()}`);
    },
  },
  import: {
    usage: 'import FILE.csv --program ID [--dry-run] [--partial] [--encoding auto|utf-8|shift_jis] [--json]',
    summary: 'Import the legacy customer list (UTF-8 or Shift_JIS); all-or-nothing unless --partial',
    options: {
      program: { type: 'string' },
      'dry-run': { type: 'boolean' },
      partial: { type: 'boolean' },
      encoding: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run({ values, positionals }, config) {
      const file = positionals[0];
      if (!file) throw new UsageError('name the CSV file to import');
      if (!fs.existsSync(file)) throw new UsageError(`no file ${file}`);
      if (typeof values.program !== 'string') throw new UsageError('--program is required (the program id)');
      const encoding = (values.encoding ?? 'auto') as string;
      if (!['auto', 'utf-8', 'shift_jis'].includes(encoding)) throw new UsageError('--encoding must be auto, utf-8 or shift_jis');
      const size = fs.statSync(file).size;
      const progress: ImportProgress | undefined = process.stderr.isTTY
        ? ({ rowsRead, rowsPlanned, rowsWritten }) => {
            const [what, rows] =
              rowsWritten !== undefined ? ['writing', rowsWritten] : rowsPlanned !== undefined ? ['planning', rowsPlanned] : ['reading', rowsRead ?? 0];
            process.stderr.write(`\r${what} ${path.basename(file)}: ${rows.toLocaleString('en')} rows   `);
          }
        : undefined;
      const result = await withDatabase(config(), (db) =>
        importFile(
          db,
          values.program as string,
          fs.createReadStream(file),
          {
            dryRun: values['dry-run'] === true,
            allOrNothing: values.partial !== true,
            encoding: encoding as 'auto',
            maxBytes: Math.max(size, config().IMPORT_MAX_BYTES),
          },
          cliActor(),
          new Date(),
          progress,
        ),
      );
      if (progress) process.stderr.write('\n');
      if (values.json) out(JSON.stringify(result));
      else {
        for (const e of result.errors) out(`line ${e.line}${e.column ? `, column ${e.column}` : ''}: ${e.message}`);
        const verb = result.written ? 'imported' : result.dryRun ? 'dry run, nothing written' : 'nothing written';
        out(
          `${verb}: ${result.created} created, ${result.updated} updated, ${result.unchanged} unchanged; ` +
            `${result.ownersCreated} owners created, ${result.ownersUpdated} updated; ${result.domainsAdded} domains added; ${result.contactsAdded} contacts added; ${result.errorCount} errors; ${result.conflictCount} conflicts`,
        );
      }
      if (result.errorCount > 0) process.exitCode = 1;
    },
  },
  check: {
    usage:
      'check DOMAIN…|- [--json] [--program ID] [--legacy-spf-include D]… [--legacy-mx-suffix S]… [--successor-spf-include D]… [--successor-mx-suffix S]… ' +
      '[--legacy-dkim-selector S]… [--legacy-dkim-target D]… [--successor-dkim-selector S]… [--successor-dkim-target D]… [--concurrency N] [--fail-on VERDICT,…]',
    summary:
      'Check domains now (MX, SPF, DMARC) and print each verdict; "-" reads domains from stdin; --fail-on exits 3 when any domain gets one of those verdicts (for scripts and CI)',
    options: {
      json: { type: 'boolean' },
      program: { type: 'string' },
      'legacy-spf-include': { type: 'string', multiple: true },
      'legacy-mx-suffix': { type: 'string', multiple: true },
      'successor-spf-include': { type: 'string', multiple: true },
      'successor-mx-suffix': { type: 'string', multiple: true },
      'legacy-dkim-selector': { type: 'string', multiple: true },
      'legacy-dkim-target': { type: 'string', multiple: true },
      'successor-dkim-selector': { type: 'string', multiple: true },
      'successor-dkim-target': { type: 'string', multiple: true },
      concurrency: { type: 'string' },
      'fail-on': { type: 'string' },
    },
    async run({ values, positionals }, config) {
      const failOn = new Set(
        typeof values['fail-on'] === 'string'
          ? values['fail-on']
              .split(',')
              .map((v) => v.trim())
              .filter(Boolean)
          : [],
      );
      const unknownVerdicts = [...failOn].filter((v) => !(verdicts as readonly string[]).includes(v));
      if (unknownVerdicts.length > 0) throw new UsageError(`--fail-on: ${unknownVerdicts.join(', ')} is not a verdict (one of ${verdicts.join(', ')})`);
      const given = (name: string) => (values[name] as unknown as string[] | undefined) ?? [];
      const list = (name: string) => given(name).map(dnsNameOption(name));
      const selectors = (name: string) => given(name).map(dkimSelectorOption(name));
      let ids: Required<Identifiers> = {
        legacySpfIncludes: list('legacy-spf-include'),
        legacyMxSuffixes: list('legacy-mx-suffix'),
        legacyDkimSelectors: selectors('legacy-dkim-selector'),
        legacyDkimTargets: list('legacy-dkim-target'),
        successorSpfIncludes: list('successor-spf-include'),
        successorMxSuffixes: list('successor-mx-suffix'),
        successorDkimSelectors: selectors('successor-dkim-selector'),
        successorDkimTargets: list('successor-dkim-target'),
      };
      if (typeof values.program === 'string') {
        const programId = values.program;
        const program = await withDatabase(config(), (db) => findProgramById(db, programId));
        if (!program) throw new UsageError(`no program ${programId}`);
        // The program's identifiers, then those given as options.
        const fromProgram = identifiersOf(program);
        ids = Object.fromEntries(
          Object.entries(ids).map(([key, extra]) => [key, [...(fromProgram[key as keyof Identifiers] ?? []), ...extra]]),
        ) as Required<Identifiers>;
      }
      if (ids.legacySpfIncludes.length + ids.legacyMxSuffixes.length === 0) {
        throw new UsageError('name the legacy service: --program ID, or --legacy-spf-include and/or --legacy-mx-suffix');
      }
      const concurrency = Number(values.concurrency ?? 8);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new UsageError('--concurrency must be 1 to 256');
      const inputs = positionals.includes('-') ? [...positionals.filter((p) => p !== '-'), ...(await readStdinWords())] : positionals;
      if (inputs.length === 0) throw new UsageError('name at least one domain, or "-" to read them from stdin');
      const domains: string[] = [];
      for (const input of inputs) {
        const n = normalizeDnsName(input);
        if (n.ok) domains.push(n.ascii);
        else {
          console.error(`skipped "${input}": ${n.reason}`);
          process.exitCode = 1;
        }
      }
      const c = config();
      const dns = createCachedLookup(createResolver({ servers: c.DNS_SERVERS, timeoutMs: c.DNS_TIMEOUT_MS, tries: 2 }));
      const colour = process.stdout.isTTY === true;
      // Results are printed in input order, each as soon as it and those before it are done.
      const results: (string | undefined)[] = new Array(domains.length);
      let printed = 0;
      const flush = () => {
        while (printed < domains.length && results[printed] !== undefined) out(results[printed++]!);
      };
      let failed = 0;
      await forEachConcurrently(domains, concurrency, async (domain, i) => {
        const check = await evaluateDomain(domain, ids, dns);
        if (failOn.has(check.verdict)) failed++;
        results[i] = values.json ? JSON.stringify(check) : `${formatEvaluation(check, colour)}\n`;
        flush();
      });
      if (failed > 0) {
        console.error(`${failed} domain(s) with a verdict in --fail-on`);
        process.exitCode = EXIT_FAIL_ON;
      }
    },
  },
  'spf-test': {
    usage: 'spf-test DOMAIN IP [--sender ADDRESS] [--helo NAME] [--program ID] [--legacy-spf-include D]… [--json]',
    summary: 'Will mail from this server pass SPF? check_host() today and once the legacy SPF record is deleted, with the terms evaluated',
    options: {
      sender: { type: 'string' },
      helo: { type: 'string' },
      program: { type: 'string' },
      'legacy-spf-include': { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    async run({ values, positionals }, config) {
      const [input, ip] = positionals;
      const domain = input === undefined ? undefined : normalizeDnsName(input);
      if (!domain?.ok) throw new UsageError(`give the domain first${domain ? `: "${input}" ${domain.reason}` : ''}`);
      if (!ip || isIP(ip) === 0) throw new UsageError(`give the sending server's IP address after the domain${ip ? `: "${ip}" is not one` : ''}`);
      const includes = ((values['legacy-spf-include'] as unknown as string[] | undefined) ?? []).map(dnsNameOption('legacy-spf-include'));
      if (typeof values.program === 'string') {
        const programId = values.program;
        const program = await withDatabase(config(), (db) => findProgramById(db, programId));
        if (!program) throw new UsageError(`no program ${programId}`);
        includes.unshift(...program.legacySpfIncludes);
      }
      if (includes.length === 0) throw new UsageError('name the legacy SPF record: --program ID or --legacy-spf-include D');
      const c = config();
      const dns = createResolver({ servers: c.DNS_SERVERS, timeoutMs: c.DNS_TIMEOUT_MS, tries: 2 });
      const answer = await testSpf(
        domain.ascii,
        { legacySpfIncludes: includes },
        dns,
        { ip, sender: values.sender as string | undefined, helo: values.helo as string | undefined },
        new Date(),
      );
      if (values.json) {
        out(JSON.stringify(answer));
        return;
      }
      out(`${answer.domain}: ${answer.ip} as ${answer.sender} (HELO ${answer.helo})`);
      for (const [label, e] of [
        ['today', answer.today],
        ['after the deletion', answer.afterDeletion],
      ] as const) {
        out(`  ${label}: ${e.result} (${e.reason}; ${e.lookups} lookups, ${e.voidLookups} void)`);
        for (const term of e.terms) out(`    ${term.path.join(' → ')}: ${term.term} ${term.outcome}${term.detail ? ` (${term.detail})` : ''}`);
      }
    },
  },
  'jobs run': {
    usage: 'jobs run dns-sweep|reminders|escalations|digest|notifications [--program ID] [--now ISO-TIME] [--limit N] [--concurrency N]',
    summary: 'Run one pass of a background job here and now (the same processors as the workers), at the time given',
    options: { program: { type: 'string' }, now: { type: 'string' }, limit: { type: 'string' }, concurrency: { type: 'string' } },
    async run({ values, positionals }, config) {
      const job = positionals[0];
      if (!job || !Object.hasOwn(runnableJobs, job)) throw new UsageError(`unknown job "${job ?? ''}"; available: ${Object.keys(runnableJobs).join(', ')}`);
      const now = values.now === undefined ? new Date() : new Date(String(values.now));
      if (Number.isNaN(now.getTime())) throw new UsageError('--now must be an ISO time, e.g. 2022-09-01T09:00:00+09:00');
      const programId = values.program as string | undefined;
      const limit = Number(values.limit ?? 100_000);
      const concurrency = Number(values.concurrency ?? 4);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new UsageError('--limit must be a whole number from 1 to 100000');
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new UsageError('--concurrency must be 1 to 256');
      const c = config();
      const log = pino({ level: job === 'notifications' ? 'info' : 'warn' }, pino.destination(2));
      // In this process, whatever the configuration, without schedules or retries; what each job
      // finished with is collected for the summary.
      const finished: FinishedJob[] = [];
      const summary = await withDatabase(c, async (db) => {
        const jobs = await buildJobSystem(
          c,
          { db, log, now: () => now },
          { work: true, inline: true, schedules: [], retries: false, concurrency, onFinished: (f) => finished.push(f) },
        );
        try {
          await runnableJobs[job]!(jobs.runtime.enqueue, { programId, limit, timeZone: c.DIGEST_TIMEZONE });
          await jobs.idle();
        } finally {
          await jobs.close();
        }
        const failed = finished.find((f) => f.state === 'failed');
        if (failed) throw new Error(`${failed.queue}/${failed.name} failed: ${failed.failedReason}`);
        return job === 'dns-sweep' ? sweepSummary(finished) : finished[0]!.result;
      });
      out(JSON.stringify(summary));
    },
  },
  'db migrate': {
    usage: 'db migrate',
    summary: 'Apply the committed database migrations (also done at every start)',
    options: {},
    async run(_args, config) {
      await withDatabase(config(), async () => {});
      out('migrations applied');
    },
  },
  openapi: {
    usage: 'openapi [--out FILE]',
    summary: 'Write the OpenAPI 3.1 document generated from the routes (stdout without --out)',
    options: { out: { type: 'string' } },
    async run({ values }) {
      const yaml = await generateOpenApiYaml();
      if (typeof values.out === 'string') fs.writeFileSync(values.out, yaml);
      else process.stdout.write(yaml);
    },
  },
};

/** The jobs `jobs run` can run: each enqueues its job into the in-process runtime. */
const runnableJobs: Record<string, (enqueue: Enqueue, o: { programId: string | undefined; limit: number; timeZone: string }) => Promise<void>> = {
  'dns-sweep': (enqueue, { programId, limit }) => enqueue('probes', 'sweep-domains', { programId, limit, trigger: 'cli' }, 'cli-sweep'),
  reminders: (enqueue, { programId }) => enqueue('tasks', 'create-reminders', { programId }, 'cli-reminders'),
  escalations: (enqueue, { programId }) => enqueue('tasks', 'escalate-tasks', { programId }, 'cli-escalations'),
  digest: (enqueue, { timeZone }) => enqueue('notifications', 'create-digests', { timeZone }, 'cli-digest'),
  notifications: (enqueue) => enqueue('notifications', 'deliver-notifications', {}, 'cli-notifications'),
};

/**
 * A sweep's summary: the domains it claimed, by verdict (`unverified`: DNS did not answer well enough;
 * `gone`: deleted between the claim and the probe).
 */
function sweepSummary(finished: FinishedJob[]) {
  const counts: Record<string, number> = {};
  let checked = 0;
  for (const f of finished) {
    if (f.name !== 'probe-domains') continue;
    const result = f.result as { checked: number; skipped: number; verdicts: Record<string, number> };
    checked += result.checked + result.skipped;
    if (result.skipped > 0) counts.gone = (counts.gone ?? 0) + result.skipped;
    for (const [label, n] of Object.entries(result.verdicts)) counts[label] = (counts[label] ?? 0) + n;
  }
  return { checked, ...counts };
}

/** A DNS-name option value, normalized; a bad one is a usage error naming the option. */
const dkimSelectorOption = (option: string) => (value: string) => {
  const n = normalizeDkimSelector(value);
  if (!n.ok) throw new UsageError(`--${option} "${value}" ${n.reason}`);
  return n.ascii;
};

const dnsNameOption = (option: string) => (value: string) => {
  const n = normalizeDnsName(value);
  if (!n.ok) throw new UsageError(`--${option} "${value}" ${n.reason}`);
  return n.ascii;
};

async function readStdinWords(): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, ''))
    .flatMap((line) => line.split(/[\s,;]+/))
    .filter(Boolean);
}

function help() {
  const lines = Object.values(commands).map((c) => `  ${c.usage}\n      ${c.summary}`);
  return `Usage: npm run -s cli -- <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nConfiguration comes from the environment (see .env.example); without DATABASE_URL the embedded database in DATA_DIR is used, which only one process may open at a time.`;
}

/** Exit codes: 0 done; 1 something failed (a bad line, an error); 3 `check --fail-on` matched; 64 bad usage. */
const EXIT_FAIL_ON = 3;

async function main(argv: string[]) {
  if (argv[0] === '--version' || argv[0] === '-v') {
    // package.json is one folder up from src/cli.ts, two from the built dist/src/cli.js.
    const manifest = ['../package.json', '../../package.json'].map((p) => new URL(p, import.meta.url)).find((u) => fs.existsSync(u))!;
    out(JSON.parse(fs.readFileSync(manifest, 'utf8')).version);
    return 0;
  }
  const words = argv.filter((a) => !a.startsWith('-'));
  const key = [`${words[0]} ${words[1]}`, words[0]].find((k) => k && commands[k]);
  if (!key) {
    if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
      out(help());
      return 0;
    }
    throw new UsageError(`unknown command "${words.slice(0, 2).join(' ')}"`);
  }
  const command = commands[key]!;
  const rest = argv.slice(argv.indexOf(words[key.split(' ').length - 1]!) + 1);
  if (rest.includes('--help') || rest.includes('-h')) {
    out(`Usage: npm run -s cli -- ${command.usage}\n\n${command.summary}`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  // Options declared `multiple` arrive as arrays; the commands that declare them read them as such.
  // The environment is parsed once, and only by commands that need it (`openapi` does not).
  let config: Config | undefined;
  await command.run(parsed as Parameters<Command['run']>[0], () => (config ??= loadConfig()));
  return process.exitCode ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) console.error(`error: ${err.message}\n\n${help()}`);
    else if (err instanceof AppError) {
      const fields = err.extra.errors?.map((e) => `${e.path}: ${e.message}`);
      console.error(`error: ${fields ? fields.join('\nerror: ') : err.message}`);
    } else if (err instanceof Error && ['ConfigError', 'StartupError'].includes(err.name)) console.error(err.message);
    else console.error(err);
    process.exit(err instanceof UsageError ? 64 : 1);
  },
);
