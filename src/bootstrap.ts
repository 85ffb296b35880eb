import v8 from 'node:v8';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { openDatabase, type Database } from '../db/client.ts';
import { migrateDatabase } from '../db/migrate.ts';
import type { Config } from './config.ts';

export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * PGlite is a single-process database: only one process may open the data dir. The holder writes its
 * pid into a lock file; a stale file (its process is gone) is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'lock.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => {
        if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new StartupError(
          `The embedded database in ${dataDir} is in use by process ${pid}. Stop it first, or set DATABASE_URL ` +
            'to use PostgreSQL, where the server, workers and the CLI can run side by side.',
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new StartupError(`Could not lock ${dataDir}`);
}

function isAlive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Opens the configured database (locking the data dir in embedded mode) and applies migrations: as
 * DATABASE_OWNER_URL's role when it is set (which also keeps the service role's grants), otherwise as
 * the service's own.
 */
export async function openDataStore(config: Config, log: FastifyBaseLogger): Promise<Database> {
  const unlock = config.DATABASE_URL ? () => {} : lockDataDir(config.DATA_DIR);
  try {
    if (config.DATABASE_OWNER_URL) {
      // Migrations as the owner, then the service as its own role (db/roles.ts).
      const owner = await openDatabase({ databaseUrl: config.DATABASE_OWNER_URL, dataDir: config.DATA_DIR, poolSize: 1 });
      try {
        await migrateDatabase(owner, { serviceUrl: config.DATABASE_URL });
      } finally {
        await owner.close();
      }
    }
    const database = await openDatabase({
      databaseUrl: config.DATABASE_URL,
      dataDir: config.DATA_DIR,
      statementTimeoutMs: config.STATEMENT_TIMEOUT_MS,
      onPoolError: (err) => log.warn({ err }, 'idle database connection lost'),
    });
    if (!config.DATABASE_OWNER_URL) await migrateDatabase(database);
    const close = database.close;
    return {
      ...database,
      close: async () => {
        try {
          await close();
        } finally {
          unlock();
        }
      },
    };
  } catch (err) {
    unlock();
    throw err;
  }
}

/**
 * How far V8 lets the heap grow past what the last full collection kept, in percent. Its own
 * default grows it up to fourfold: the API keeps about 30 MB live, but under 32 concurrent list
 * requests their garbage reached 136 MB before a full collection, and RSS 233 MiB. At 50 %: 156 MiB,
 * at the same rate (BENCHMARKS.md). The worker likewise: a 200 MB import grew it by 173 MiB without
 * this, most of it garbage of the batches gone by. A --heap-growing-percent given to node wins.
 */
const HEAP_GROWING_PERCENT = 50;

/** Applies HEAP_GROWING_PERCENT: the first thing the server and the worker do. */
export function limitHeapGrowth() {
  if (!process.execArgv.some((arg) => arg.startsWith('--heap-growing-percent') || arg.startsWith('--heap_growing_percent'))) {
    v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  }
}
