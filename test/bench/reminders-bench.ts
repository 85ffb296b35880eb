import { sql } from 'drizzle-orm';
import { rowsOf } from '../../db/client.ts';
import { createReminders } from '../../src/tasks/task-service.ts';
import { BENCH_PROGRAM_ID, seedReportsData } from './bench-data.ts';
import { benchDatabase, withPeakRss } from './bench-database.ts';

/**
 * `npm run bench -- reminders --customers N`: the hourly reminder job over a program of N customers
 * whose T-60 milestone has just been reached (one task per customer not final), then again (nothing
 * to create: the dedupe keys hold).
 */
export async function remindersBenchmark(n: number): Promise<Record<string, string | number>[]> {
  const database = await benchDatabase();
  try {
    await seedReportsData(database.db, n);
    await database.db.execute(sql`UPDATE programs SET reminder_offsets_days = '{-60,-30}' WHERE id = ${BENCH_PROGRAM_ID}`);
    const now = new Date();
    const first = await withPeakRss(() => createReminders(database.db, now));
    const again = await withPeakRss(() => createReminders(database.db, now));
    const [{ n: expected }] = rowsOf<{ n: number }>(
      await database.db.execute(sql`SELECT count(*)::int AS n FROM customers WHERE status NOT IN ('completed', 'declined', 'cancelled')`),
    ) as [{ n: number }];
    if (first.value.created !== expected || again.value.created !== 0)
      throw new Error(`unexpected reminders: ${JSON.stringify({ first: first.value, again: again.value, expected })}`);
    return [
      {
        benchmark: 'reminders',
        measure: `first run, ${n} customers (${first.value.created} tasks)`,
        value: Number(first.seconds.toFixed(2)),
        unit: 's',
        target: '< 10 s at 100k',
      },
      {
        benchmark: 'reminders',
        measure: 're-run, nothing to create',
        value: Number(again.seconds.toFixed(2)),
        unit: 's',
        target: '< 5 s at 100k, 0 created',
        created: again.value.created,
      },
    ];
  } finally {
    await database.drop();
  }
}
