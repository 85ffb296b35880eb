import type { CustomerStatus } from '../../db/schema/enums.ts';
import { exponentialBackoff } from '../lib/backoff.ts';
import { startOfDayIn } from '../lib/calendar.ts';

export interface Cadence {
  shutdownAt: string;
  spfRecordDeletionAt: string | null;
  timezone: string;
  checkIntervalActionHours: number;
  checkIntervalCleanHours: number;
  checkIntervalCompletedHours: number;
  urgentWindowDays: number;
  urgentIntervalHours: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** First retry after a DNS failure; doubles per consecutive failure, capped by the normal interval. */
export const FAILURE_RETRY_MS = 5 * 60_000;
/** A completed customer's domain that turned unclean is checked again this soon, to confirm before acting. */
export const CONFIRM_MS = 5 * 60_000;

/** Whether `now` is within the urgent window before the shutdown or the SPF-record deletion. */
export function inUrgentWindow(now: Date, cadence: Cadence): boolean {
  return [cadence.shutdownAt, cadence.spfRecordDeletionAt]
    .filter((d): d is string => d !== null)
    .some((d) => {
      const deadline = startOfDayIn(d, cadence.timezone).getTime();
      return now.getTime() <= deadline && now.getTime() >= deadline - cadence.urgentWindowDays * DAY;
    });
}

/**
 * When a domain is checked next. Needing action: every 6 h by default, hourly in the 14 days before
 * each deadline; clean: daily; a completed customer's clean domain: weekly (regression watch). After a
 * DNS failure: soon, backing off, never later than the normal interval.
 */
export function nextCheckAt(
  now: Date,
  state: { verdict: string | null; failed: boolean; consecutiveFailures: number; customerStatus: CustomerStatus },
  cadence: Cadence,
): Date {
  const clean = state.verdict === 'clean';
  let interval: number;
  if (!clean) interval = (inUrgentWindow(now, cadence) ? cadence.urgentIntervalHours : cadence.checkIntervalActionHours) * HOUR;
  else if (state.customerStatus === 'completed') interval = cadence.checkIntervalCompletedHours * HOUR;
  else interval = cadence.checkIntervalCleanHours * HOUR;
  if (state.failed) interval = exponentialBackoff(FAILURE_RETRY_MS, state.consecutiveFailures - 1, interval);
  return new Date(now.getTime() + interval);
}
