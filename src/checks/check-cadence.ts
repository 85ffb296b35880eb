import type { CustomerStatus } from '../../db/schema/enums.ts';

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

/** Formatters are costly to create (a profile of the sweep found one per check); one per zone and shape. */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(shape: 'date' | 'time', timeZone: string) {
  const key = `${shape} ${timeZone}`;
  let f = formatters.get(key);
  if (!f) {
    f =
      shape === 'date'
        ? new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
        : new Intl.DateTimeFormat('en-US', {
            timeZone,
            hourCycle: 'h23',
            year: 'numeric',
            month: '2-digit',
            day: '2-digit',
            hour: '2-digit',
            minute: '2-digit',
            second: '2-digit',
          });
    formatters.set(key, f);
  }
  return f;
}

/** The calendar date of an instant in a time zone, YYYY-MM-DD. */
export const localDate = (at: Date, timeZone: string) => formatter('date', timeZone).format(at);

/** The UTC instant a calendar date starts in a time zone (e.g. 2022-09-30 00:00 Asia/Tokyo). */
export function startOfDayIn(date: string, timeZone: string): Date {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const guess = Date.UTC(y, m - 1, d);
  const parts = Object.fromEntries(
    formatter('time', timeZone)
      .formatToParts(new Date(guess))
      .map((p) => [p.type, p.value]),
  );
  const asLocal = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return new Date(guess - (asLocal - guess));
}

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
  if (state.failed) interval = Math.min(interval, FAILURE_RETRY_MS * 2 ** Math.max(0, state.consecutiveFailures - 1));
  return new Date(now.getTime() + interval);
}
