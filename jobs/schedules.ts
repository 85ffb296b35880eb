import type { Queue } from 'bullmq';
import type { Config } from '../src/config.ts';
import type { QueueName } from './queues.ts';

export interface Schedule {
  /** Scheduler id; stable, so re-applying replaces rather than duplicates. */
  id: string;
  queue: QueueName;
  name: string;
  /** cron pattern, evaluated in `tz` */
  pattern: string;
  tz: string;
  data: unknown;
}

/** Every recurring job. The digest runs at 08:00 in DIGEST_TIMEZONE. */
export const schedulesFor = (config: Pick<Config, 'DIGEST_TIMEZONE'>): Schedule[] => [
  { id: 'dns-sweep-every-minute', queue: 'checks', name: 'sweep-domains', pattern: '* * * * *', tz: 'UTC', data: {} },
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
  {
    id: 'prune-outbox-daily',
    queue: 'housekeeping',
    name: 'prune-outbox',
    pattern: '30 3 * * *',
    tz: 'UTC',
    data: { olderThanDays: 7 },
  },
];

/** Applies the schedules to BullMQ: the one place that calls upsertJobScheduler. Stale schedulers are removed. */
export async function applySchedules(queueByName: Record<QueueName, Queue>, schedules: Schedule[]) {
  for (const [queueName, queue] of Object.entries(queueByName)) {
    const wanted = schedules.filter((s) => s.queue === queueName);
    for (const s of wanted) {
      await queue.upsertJobScheduler(s.id, { pattern: s.pattern, tz: s.tz }, { name: s.name, data: s.data });
    }
    for (const existing of await queue.getJobSchedulers()) {
      if (!wanted.some((s) => s.id === existing.key)) await queue.removeJobScheduler(existing.key);
    }
  }
}
