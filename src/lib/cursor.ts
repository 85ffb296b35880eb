import { z } from 'zod';
import { validationError } from '../errors.ts';
import { findUnstorable } from './storable-text.ts';

/*
 * Keyset pagination's cursors and pages, for every service that lists: a cursor is opaque to clients,
 * and one that is not ours (tampered, replayed on another sort) is a 400, never a 500.
 */

/** Cursors are opaque to clients: base64url of the sort-key values of the last item seen. */
export function encodeCursor(values: readonly (string | number | null)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor<T extends z.ZodType>(cursor: string, shape: T): z.infer<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const result = shape.safeParse(parsed);
  // A cursor's values go into SQL as they are: text the database cannot store is refused here too.
  if (!result.success || findUnstorable(result.data, 'cursor').length > 0) throw notOurCursor();
  return result.data;
}

export const notOurCursor = (why = 'not a cursor this list returned') => validationError([{ path: 'query.cursor', message: `${why}; start again without it` }]);

/** A real instant in ISO 8601 (2026-02-31 passes a pattern; PostgreSQL would refuse it with a 500). */
export const cursorInstant = z.iso.datetime({ offset: true }).refine((v) => isRealDate(v.slice(0, 10)));

/** A calendar date that exists, YYYY-MM-DD. */
export function isRealDate(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return false;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.toISOString().slice(0, 10) === value;
}

/** Rows were fetched with `limit + 1`: the extra one only tells whether another page exists. */
export function toPage<Row, Item>(
  rows: Row[],
  limit: number,
  toItem: (row: Row) => Item,
  cursorOf: (row: Row) => readonly (string | number | null)[],
): { items: Item[]; nextCursor: string | null } {
  const pageRows = rows.slice(0, limit);
  const last = pageRows[pageRows.length - 1];
  return {
    items: pageRows.map(toItem),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null,
  };
}
