/**
 * Exponential backoff, the one formula every retry here uses: `baseMs` for attempt 0, doubled for
 * each attempt after, never more than `capMs`.
 */
export const exponentialBackoff = (baseMs: number, attempt: number, capMs = Number.POSITIVE_INFINITY) => Math.min(baseMs * 2 ** Math.max(0, attempt), capMs);
