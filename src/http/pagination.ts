import { z } from 'zod';

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
