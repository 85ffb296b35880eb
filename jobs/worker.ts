import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { loggerOptions } from '../src/logging.ts';
import { limitHeapGrowth, openDataStore } from '../src/bootstrap.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { buildJobSystem } from './system.ts';

/** `npm run worker`: BullMQ workers only, for scaling jobs out onto other machines. */
async function main() {
  limitHeapGrowth();
  const config = loadConfig();
  if (!config.REDIS_URL || !config.DATABASE_URL) {
    throw new ConfigError(
      'npm run worker needs REDIS_URL and DATABASE_URL (separate workers share PostgreSQL and Redis with the API). ' +
        'Without them, npm start runs the jobs in-process.',
    );
  }
  const log = pino(loggerOptions(config) as object);
  const database = await openDataStore(config, log);
  const jobs = await buildJobSystem(config, { db: database.db, log }, { work: true });
  closeWithGrace({ delay: 60_000, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'worker shutting down after an error');
    else log.info({ signal }, 'worker shutting down: finishing active jobs');
    await jobs.close();
    await database.close();
  });
  log.info({ prefix: config.QUEUE_PREFIX, concurrency: config.JOB_CONCURRENCY }, 'worker started');
}

main().catch((err) => {
  console.error(err instanceof Error && ['ConfigError', 'StartupError'].includes(err.name) ? err.message : err);
  process.exit(1);
});
