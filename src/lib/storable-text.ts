import type { FieldError } from '../errors.ts';

/*
 * Text PostgreSQL cannot store: a NUL, or an unpaired UTF-16 surrogate. Every way text comes in (a
 * request, a CSV cell, a cursor) is checked with these, so bad input is a 400 naming the field, never
 * a database error.
 */

/** A UTF-16 surrogate without its pair: JSON's "\ud800" parses into one, and it is no Unicode text. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why PostgreSQL could not store this text (a NUL, or an unpaired surrogate), or undefined when it can. */
export function unstorable(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000), which cannot be stored';
  if (LONE_SURROGATE.test(text)) return 'contains an unpaired UTF-16 surrogate, which is not Unicode text';
  return undefined;
}

/**
 * `text` cut to `max` UTF-16 units for quoting in a message, "…" marking the cut; never between the
 * halves of a surrogate pair (a lone half would make the message itself unstorable).
 */
export function excerpt(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\ud800-\udbff]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, end)}…`;
}

/** Parsed JSON, a query string or form fields; not a stream or a Buffer (a CSV body is checked by the import). */
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Buffer.isBuffer(value) && typeof (value as { pipe?: unknown }).pipe !== 'function';

/** Every string (and key) under `value` that PostgreSQL could not store, named by its path. */
export function findUnstorable(value: unknown, path: string, found: FieldError[] = []): FieldError[] {
  if (typeof value === 'string') {
    const why = unstorable(value);
    if (why) found.push({ path, message: why });
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => findUnstorable(item, `${path}.${i}`, found));
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      const why = unstorable(key);
      if (why)
        found.push({
          path: `${path}.${key
            .replace(/[\ud800-\udfff]/g, '\ufffd')
            .split('\u0000')
            .join('\ufffd')}`,
          message: `this key ${why}`,
        });
      findUnstorable(item, `${path}.${key}`, found);
    }
  }
  return found;
}
