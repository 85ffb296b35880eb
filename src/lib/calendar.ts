/**
 * Calendar dates (YYYY-MM-DD) and time zones: a program keeps its calendar in its own zone, so "today",
 * "days left" and "the start of that day" are computed here and nowhere else.
 */

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

/** Whole days from calendar date `b` to `a` (negative when `a` is earlier). */
export const dayDiff = (a: string, b: string) => Math.round((Date.parse(`${a}T00:00:00Z`) - Date.parse(`${b}T00:00:00Z`)) / 86_400_000);

/** The calendar date `days` after `date` (before, when negative). */
export const addDays = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
