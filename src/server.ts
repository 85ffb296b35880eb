import fs from 'node:fs';
import path from 'node:path';
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { buildJobSystem } from '../jobs/system.ts';
import { buildApp } from './app.ts';
import { loggerOptions } from './logging.ts';
import { limitHeapGrowth, openDataStore } from './bootstrap.ts';
import { ConfigError, isEmbedded, loadConfig, type Config } from './config.ts';
import { countTokens } from './tokens/token-repository.ts';
import { createToken } from './tokens/token-service.ts';
import type { Db } from '../db/client.ts';

/** `npm start`: API and jobs in one process. `npm run api` (--api-only): the API alone; workers run apart. */
async function main() {
  limitHeapGrowth();
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const apiOnly = process.argv.includes('--api-only');
  const log = pino(loggerOptions(config) as object);
  const now = () => new Date();
  const database = await openDataStore(config, log);
  const jobs = await buildJobSystem(config, { db: database.db, log, now }, { work: !apiOnly });

  const app = await buildApp(config, { database, jobs: jobs.runtime, now, logger: log });
  if (isEmbedded(config)) await createFirstAdminToken(database.db, config, now());

  closeWithGrace({ delay: 15_000, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error');
    else log.info({ signal }, 'shutting down: draining requests and jobs');
    await app.close();
    await jobs.close();
    await database.close();
  });

  const address = await app.listen({ port: config.PORT, host: config.HOST });
  const mode = isEmbedded(config)
    ? `embedded (PGlite in ${database.location}, ${config.REDIS_URL ? 'BullMQ jobs' : 'in-process jobs'})`
    : `distributed (PostgreSQL ${database.location}, ${config.REDIS_URL ? `Redis, ${apiOnly ? 'API only' : 'API + workers'}` : 'in-process jobs'})`;
  log.info({ address, mode, dataDir: isEmbedded(config) ? config.DATA_DIR : undefined }, `listening on ${address}: ${mode}`);
}

/**
 * Embedded mode has no CLI beside the server (the data dir is locked), so on a first start with no
 * tokens the server makes the first admin token, prints it once and keeps it in a 0600 file.
 */
async function createFirstAdminToken(db: Db, config: Config, now: Date) {
  if ((await countTokens(db)) > 0) return;
  const { token } = await createToken(db, { name: 'first-admin', role: 'admin' }, { name: 'system:first-start' });
  const file = path.join(config.DATA_DIR, 'admin-token');
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  process.stderr.write(
    `\nFirst start (${now.toISOString()}): created an admin API token. It is shown only this once and saved to ${file} (mode 0600):\n\n  ${token}\n\n` +
      `Try: curl -H "Authorization: Bearer $(cat ${file})" http://${config.HOST}:${config.PORT}/v1/programs\n\n`,
  );
}

main().catch((err) => {
  console.error(err instanceof Error && err.name === 'StartupError' ? err.message : err);
  process.exit(1);
});
