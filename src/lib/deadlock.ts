import { pgError } from '../errors.ts';

/**
 * Runs `work` once more when PostgreSQL undid its transaction as a deadlock's victim (40P01) or a
 * serialization failure (40001). Lock order keeps our own writers from deadlocking; this is for the
 * writers that lock many rows while a long one (an import) holds others. `work` must open its own
 * transaction (not run inside a caller's) and have no effect outside the database.
 */
export async function retryOnceOnDeadlock<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const code = pgError(err)?.code;
    if (code !== '40P01' && code !== '40001') throw err;
    return work();
  }
}
