import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import pg from 'pg';
import * as schema from './schema/index.ts';

/** A drizzle handle on either driver; a transaction handle fits the same type. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Where the data lives, for logs: the data dir or the server address (never the password). */
  location: string;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** The underlying client, for the migrator. */
  client: pg.Pool | PGlite;
}

export interface OpenDatabaseOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  poolSize?: number;
  /** PostgreSQL cancels a statement running longer (SQLSTATE 57014); 0 or unset: no limit. */
  statementTimeoutMs?: number;
  onPoolError?: (err: Error) => void;
}

/**
 * A checked-out client whose connection fails (not an error answered by the server) is released at
 * once with the error, so the pool destroys it; the caller's own release later does nothing.
 * drizzle-orm 0.45 runs a transaction's BEGIN outside its try/finally, so a BEGIN on a dead
 * connection never released the client: each database outage leaked pool slots until the pool
 * was empty for good (drizzle-team/drizzle-orm#6241). This also keeps a client whose ROLLBACK
 * failed out of the pool. The fault test cutting PostgreSQL mid-load proves both.
 */
function releaseBrokenClients(pool: pg.Pool) {
  const guarded = new WeakSet<pg.PoolClient>();
  const connect = pool.connect.bind(pool);
  pool.connect = ((callback?: unknown) => {
    if (typeof callback === 'function') return connect(callback as Parameters<typeof connect>[0]); // pool.query's own path
    return connect().then((client) => {
      const release = client.release;
      let released = false;
      client.release = (err?: Error | boolean) => {
        if (released) return;
        released = true;
        release(err);
      };
      if (!guarded.has(client)) {
        guarded.add(client);
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        client.query = ((...args: unknown[]) => {
          const result = query(...args);
          if (!(result instanceof Promise)) return result;
          return result.catch((err: unknown) => {
            if (!(err instanceof pg.DatabaseError)) client.release(err instanceof Error ? err : new Error(String(err)));
            throw err;
          });
        }) as typeof client.query;
      }
      return client;
    });
  }) as typeof pool.connect;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      // Fail fast when the database is unreachable instead of queueing requests for ever.
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
      // No JIT compilation: it pays off for analytic queries running seconds, and ours are short.
      // PostgreSQL compiles whenever a plan's estimated cost passes jit_above_cost, and estimates
      // run high on a freshly filled table: the sweep's batch statements then spent tens of
      // milliseconds compiling each (a re-check sweep of 200k domains: 749 domains/s with it, 2,324
      // without). Readiness, the longest report, is as fast without it (BENCHMARKS.md).
      // No parallel workers per query either: the reports already run their aggregates side by
      // side on the pool, and more processes than cores only contend (readiness at 100k customers
      // on 2 cores: 440–590 ms with them, 170–300 ms without).
      options: '-c jit=off -c max_parallel_workers_per_gather=0',
    });
    // A client losing its connection must not crash the process. The pool listens only to idle
    // clients; one checked out (say, between two statements of a transaction) emits 'error' with no
    // listener, which would throw. Its query fails on its own, the pool then replaces the client.
    pool.on('error', (err) => options.onPoolError?.(err));
    pool.on('connect', (client) => client.on('error', (err) => options.onPoolError?.(err)));
    releaseBrokenClients(pool);
    const db = drizzlePg({ client: pool, schema }) as unknown as Db;
    const url = new URL(options.databaseUrl);
    return {
      db,
      kind: 'postgres',
      location: `${url.hostname}:${url.port || 5432}${url.pathname}`,
      client: pool,
      ping: async () => {
        await pool.query('SELECT 1');
      },
      close: () => pool.end(),
    };
  }
  const dir = path.join(options.dataDir, 'pglite');
  fs.mkdirSync(dir, { recursive: true });
  const client = await PGlite.create(dir);
  const db = drizzlePglite({ client, schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    location: dir,
    client,
    ping: async () => {
      await db.execute(sql`SELECT 1`);
    },
    close: () => client.close(),
  };
}

/** An in-memory PGlite: for generating the OpenAPI document, where nothing is stored. */
export async function openMemoryDatabase(): Promise<Database> {
  const client = await PGlite.create();
  const db = drizzlePglite({ client, schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    location: 'memory',
    client,
    ping: async () => {
      await db.execute(sql`SELECT 1`);
    },
    close: () => client.close(),
  };
}

/** The rows of a raw `db.execute()` result; both drivers return them under `rows`. */
export const rowsOf = <T>(result: unknown): T[] => (result as { rows: T[] }).rows;

/** An array bound as one parameter: a column of `unnest(…)` in a set-based write, or the list of `= ANY(…)`. */
export const col = (values: unknown[]) => sql.param(values);
