import { pino } from 'pino';
import { openMemoryDatabase } from '../db/client.ts';
import { InlineJobRuntime } from '../jobs/inline.ts';
import { createResolver } from './dns/resolver.ts';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

/** The OpenAPI document as YAML, generated from the route schemas of an app that stores nothing. */
export async function generateOpenApiYaml(): Promise<string> {
  const database = await openMemoryDatabase();
  const log = pino({ level: 'silent' });
  const jobs = new InlineJobRuntime({ db: database.db, now: () => new Date(), log, dns: createResolver() }, { concurrency: 1, schedules: [] });
  const app = await buildApp(loadConfig({}), { database, jobs, logger: log });
  try {
    await app.ready();
    return app.swagger({ yaml: true });
  } finally {
    await app.close();
    await jobs.close();
    await database.close();
  }
}
