import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { apiBenchmark } from './api-bench.ts';
import { dnsBenchmark } from './dns-bench.ts';
import { importBenchmark } from './import-bench.ts';
import { importLoadBenchmark } from './import-load-bench.ts';
import { remindersBenchmark } from './reminders-bench.ts';
import { reportsBenchmark } from './reports-bench.ts';

/**
 * `npm run bench [-- <name>…] [--customers N] [--json]`: runs benchmarks by name (all when none is
 * named), prints a table and, with --json, writes bench-results.json. Never part of `npm test`.
 */
type Result = Record<string, string | number>;
const benchmarks: Record<string, (size: number) => Promise<Result[]>> = {
  dns: dnsBenchmark,
  import: importBenchmark,
  'import-load': importLoadBenchmark,
  reports: reportsBenchmark,
  reminders: remindersBenchmark,
  api: apiBenchmark,
};

async function main() {
  const { values, positionals } = parseArgs({
    options: { customers: { type: 'string', default: '100000' }, json: { type: 'boolean' } },
    allowPositionals: true,
  });
  const size = Number(values.customers);
  if (!Number.isInteger(size) || size < 1) throw new Error('--customers must be a positive whole number');
  const unknown = positionals.filter((n) => !benchmarks[n]);
  if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(benchmarks).join(', ')}`);
  const results: Result[] = [];
  for (const name of positionals.length > 0 ? positionals : Object.keys(benchmarks)) {
    process.stderr.write(`running ${name} (${size} customers)…\n`);
    results.push(...(await benchmarks[name]!(size)));
  }
  console.table(results.map((r) => ({ ...r, value: typeof r.value === 'number' ? Number(r.value.toFixed(3)) : r.value })));
  if (values.json) {
    fs.writeFileSync('bench-results.json', `${JSON.stringify({ at: new Date().toISOString(), customers: size, results }, null, 2)}\n`);
    process.stderr.write('wrote bench-results.json\n');
  }
}

main().catch((err) => {
  // drizzle's message is the query; the database's reason is its cause.
  console.error(err instanceof Error ? `${err.message}${err.cause instanceof Error ? `\ncause: ${err.cause.message}` : ''}` : err);
  process.exit(1);
});
