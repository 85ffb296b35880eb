import type { Config } from '../config.ts';
import type { JobInput, JobName, QueueName } from './catalogue.ts';

/** A recurring job: which one, when, with what payload. */
export type Schedule = {
  [Q in QueueName]: {
    [N in JobName<Q>]: {
      /** Scheduler id; stable, so re-applying replaces rather than duplicates. */
      id: string;
      queue: Q;
      name: N;
      /** cron pattern, evaluated in `tz` */
      pattern: string;
      tz: string;
      data: JobInput<Q, N>;
    };
  }[JobName<Q>];
}[QueueName];

/** Every recurring job. The digest runs at 08:00 in DIGEST_TIMEZONE. */
export const schedulesFor = (config: Pick<Config, 'DIGEST_TIMEZONE'>): Schedule[] => [
  { id: 'dns-sweep-every-minute', queue: 'probes', name: 'sweep-domains', pattern: '* * * * *', tz: 'UTC', data: {} },
  // Hourly, because each program keeps its own calendar (time zone); the work is idempotent.
  { id: 'reminders-hourly', queue: 'tasks', name: 'create-reminders', pattern: '5 * * * *', tz: 'UTC', data: {} },
  { id: 'escalations-hourly', queue: 'tasks', name: 'escalate-tasks', pattern: '35 * * * *', tz: 'UTC', data: {} },
  {
    id: 'digest-daily',
    queue: 'notifications',
    name: 'create-digests',
    pattern: '0 8 * * *',
    tz: config.DIGEST_TIMEZONE,
    data: { timeZone: config.DIGEST_TIMEZONE },
  },
  { id: 'deliver-notifications-every-minute', queue: 'notifications', name: 'deliver-notifications', pattern: '* * * * *', tz: 'UTC', data: {} },
  { id: 'prune-outbox-daily', queue: 'housekeeping', name: 'prune-outbox', pattern: '30 3 * * *', tz: 'UTC', data: { olderThanDays: 7 } },
];
