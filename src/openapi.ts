import { pino } from 'pino';
import { openMemoryDatabase } from '../db/client.ts';
import { buildJobSystem } from '../jobs/system.ts';
import { createResolver } from './dns/resolver.ts';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

/** The OpenAPI document as YAML, generated from the route schemas of an app that stores nothing. */
export async function generateOpenApiYaml(): Promise<string> {
  const config = loadConfig({});
  const database = await openMemoryDatabase();
  const log = pino({ level: 'silent' });
  const jobs = await buildJobSystem(config, { db: database.db, log, dns: createResolver() }, { work: true, inline: true, schedules: [], concurrency: 1 });
  const app = await buildApp(config, { database, jobs: jobs.runtime, logger: log });
  try {
    await app.ready();
    return app.swagger({ yaml: true });
  } finally {
    await app.close();
    await jobs.close();
    await database.close();
  }
}
