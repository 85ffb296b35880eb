import { z } from 'zod';
import { normalizeDnsName } from '../dns/dns-name.ts';
import { excerpt } from '../lib/storable-text.ts';

export const IdParams = z.object({ id: z.uuid({ error: 'expected a UUID' }) });

/** A calendar date, `YYYY-MM-DD`. */
export const IsoDate = z.iso.date({ error: 'expected a date as YYYY-MM-DD' });

export const Timestamp = z.iso.datetime({ offset: true }).meta({ description: 'RFC 3339 timestamp' });

/** A DNS name, accepted in any case, with a trailing dot, or in Unicode; stored normalized (punycode). */
export const DnsName = z
  .string()
  .max(300)
  .transform((value, ctx) => {
    const result = normalizeDnsName(value);
    if (result.ok) return result.ascii;
    ctx.issues.push({ code: 'custom', input: value, message: `"${excerpt(value, 60)}" ${result.reason}` });
    return z.NEVER;
  })
  .meta({ description: 'A DNS name; normalized to lower case, no trailing dot, IDN as punycode', example: 'spf.po.2iij.net' });

/** A list of DNS names, normalized and de-duplicated. */
export const DnsNameList = z
  .array(DnsName)
  .max(50)
  .transform((names) => [...new Set(names)]);

/** An IANA time zone, stored in its canonical spelling. */
export const TimeZone = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
    } catch {
      ctx.issues.push({ code: 'custom', input: value, message: `"${excerpt(value, 64)}" is not an IANA time zone (e.g. Asia/Tokyo)` });
      return z.NEVER;
    }
  })
  .meta({ description: 'IANA time zone', example: 'Asia/Tokyo' });

/** Headers a versioned resource's conditional change needs. */
export const IfMatchHeaders = z.object({
  'if-match': z.string().optional().meta({ description: 'The ETag from your last GET (required)' }),
});

/** A query list given as `x=a,b` or `x=a&x=b`, each item checked by `item`. */
export const QueryList = <T extends z.ZodType<unknown, string>>(item: T, max = 50) =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((v) =>
      (Array.isArray(v) ? v : [v])
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item).max(max));
