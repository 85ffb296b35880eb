import { z } from 'zod';
import { validationError } from '../errors.ts';
import { findUnstorable } from './text-guard.ts';

export const MAX_PAGE_SIZE = 200;

export const PageQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_SIZE)
    .default(50)
    .meta({ description: `Page size, 1 to ${MAX_PAGE_SIZE}` }),
  cursor: z.string().max(1024).optional().meta({ description: 'The `nextCursor` of the previous page' }),
});

/** A page of items; `nextCursor` is null on the last page. */
export const Page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

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
