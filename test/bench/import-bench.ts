import { monitorEventLoopDelay } from 'node:perf_hooks';
import { programs } from '../../db/schema/index.ts';
import { importFile } from '../../src/imports/import-service.ts';
import { benchDatabase, withPeakRss } from './bench-database.ts';

const statuses = ['not_contacted', 'contacted', 'planned', 'migrating', 'migrated', 'declined'];

/** `rows` realistic CSV lines, generated as a stream (never held whole in memory). */
export async function* generateCsv(rows: number, status?: string) {
  yield 'external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department,status,planned_migration_at\n';
  let batch = '';
  for (let i = 0; i < rows; i++) {
    const owner = i % 500;
    const domains = i % 3 === 0 ? `c${i}.example.jp;mail-c${i}.example.jp` : `c${i}.example.jp`;
    const planned = i % 4 === 0 ? '' : `2022/${(i % 9) + 1}/${(i % 27) + 1}`;
    batch += `LEG-${String(i).padStart(7, '0')},株式会社テスト${i},${domains},owner${owner}@example.co.jp,担当者${owner},法人営業${owner % 12}部,${status ?? statuses[i % statuses.length]},${planned}\n`;
    if (batch.length > 64 * 1024) {
      yield batch;
      batch = '';
    }
  }
  yield batch;
}

/** Import of N CSV rows into an empty program, then the same file again (everything unchanged). */
export async function importBenchmark(rows: number): Promise<Record<string, string | number>[]> {
  const database = await benchDatabase();
  try {
    const [program] = await database.db
      .insert(programs)
      .values({
        name: 'bench',
        legacyService: 'legacy',
        successorService: 'successor',
        shutdownAt: '2022-09-30',
        legacySpfIncludes: ['spf.po.2iij.net'],
        reminderOffsetsDays: [-30],
      })
      .returning();
    const options = { dryRun: false, allOrNothing: true, encoding: 'auto' as const, maxBytes: 2 ** 31 };
    const actor = { name: 'bench' };
    const first = await withPeakRss(() => importFile(database.db, program!.id, generateCsv(rows), options, actor, new Date()));
    const again = await withPeakRss(() => importFile(database.db, program!.id, generateCsv(rows), options, actor, new Date()));
    // The attack on the planner: a dry run in which every existing customer changes status
    // (to on_hold: legal from the open statuses, an error from the final ones). The event loop's
    // longest stall says whether the process stays responsive meanwhile.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const moved = await withPeakRss(() => importFile(database.db, program!.id, generateCsv(rows, 'on_hold'), { ...options, dryRun: true }, actor, new Date()));
    loop.disable();
    if (first.value.created !== rows || again.value.unchanged !== rows) {
      throw new Error(`unexpected import result: ${JSON.stringify({ first: first.value, again: again.value })}`);
    }
    return [
      {
        benchmark: 'import',
        measure: `first import, ${rows} rows`,
        value: first.seconds,
        unit: 's',
        target: '< 60 s at 100k rows',
        rowsPerSecond: Math.round(rows / first.seconds),
        peakRssMiB: first.peakRssMiB,
      },
      {
        benchmark: 'import',
        measure: `dry run, ${rows} rows each changing status`,
        value: moved.seconds,
        unit: 's',
        target: 'linear; no stall',
        rowsPerSecond: Math.round(rows / moved.seconds),
        eventLoopMaxStallMs: Math.round(loop.max / 1e6),
        peakRssMiB: moved.peakRssMiB,
      },
      {
        benchmark: 'import',
        measure: `re-import, ${rows} rows unchanged`,
        value: again.seconds,
        unit: 's',
        target: 'no writes',
        rowsPerSecond: Math.round(rows / again.seconds),
        peakRssMiB: again.peakRssMiB,
      },
    ];
  } finally {
    await database.drop();
  }
}
