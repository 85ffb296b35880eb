import { errors } from '../errors.ts';

/**
 * Optimistic concurrency: a change names the version it was made against (from If-Match through the
 * API), and is refused (412) unless that is still the current one; null: any current version.
 */
export function assertVersion(expected: number | null, current: number) {
  if (expected !== null && expected !== current) throw errors.versionMismatch(expected, current);
}
