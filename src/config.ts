import path from 'node:path';
import { isIP } from 'node:net';
import { z } from 'zod';

/** A `host[:port]` DNS server, IPv6 in brackets when a port is given (`[::1]:5353`). */
const DnsServer = z.string().refine(
  (s) => {
    const m = /^\[(.+)\](?::(\d{1,5}))?$/.exec(s) ?? /^([^:]+)(?::(\d{1,5}))?$/.exec(s);
    if (m) return isIP(m[1] ?? '') !== 0 && (m[2] === undefined || Number(m[2]) <= 65535);
    return isIP(s) === 6;
  },
  { message: 'expected an IP address with an optional port, e.g. 127.0.0.1:5353 or [::1]:53' },
);

const emptyAsUndefined = (v: unknown) => (v === '' ? undefined : v);

export const Config = z.object({
  DATABASE_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgres:// URL' }).optional()),
  /**
   * The role that owns the schema and runs migrations; the service then connects as DATABASE_URL's role,
   * created and granted by the migration with no DDL and an append-only audit log (SECURITY.md). Unset:
   * DATABASE_URL's role migrates and owns everything.
   */
  DATABASE_OWNER_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgres:// URL' }).optional()),
  DATA_DIR: z.string().min(1).default('./data'),
  REDIS_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' }).optional()),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _ only (it becomes part of Redis keys)')
    .default('mdt'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DNS_SERVERS: z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? v.split(',').map((s) => s.trim()) : undefined), z.array(DnsServer).optional()),
  DNS_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2000),
  /** Questions per second each process may send to the resolvers; unset: no limit. */
  DNS_QPS: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(100_000).optional()),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(100 * 1024 * 1024)
    .default(1024 * 1024),
  /** Largest CSV import; it is streamed, so this bounds work, not memory. */
  IMPORT_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(2 * 1024 ** 3)
    .default(200 * 1024 * 1024),
  /** Imports of up to this many bytes are parsed, planned and written in the request (200); larger ones by a job (202). */
  IMPORT_INLINE_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(2 * 1024 * 1024),
  /**
   * Where people reach this service, for the links it hands out (self-check pages, notices); unset:
   * the address of the request that makes the link (its Host header and scheme).
   */
  PUBLIC_URL: z.preprocess(
    emptyAsUndefined,
    z
      .url({ protocol: /^https?$/, error: 'expected an http(s):// URL' })
      .transform((u) => u.replace(/\/+$/, ''))
      .optional(),
  ),
  /**
   * The key self-check tokens are made with (an HMAC of the link's id); unset: a key the service makes
   * once and keeps in the database. Set it so that a copy of the database cannot rebuild working links.
   */
  LINK_SECRET: z.preprocess(emptyAsUndefined, z.string().min(32, 'use at least 32 characters').optional()),
  /** The mail server notices are sent through (`smtp://user:pass@host:587`, `smtps://…`); unset: notices are rendered, not sent. */
  SMTP_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^smtps?$/, error: 'expected an smtp:// or smtps:// URL' }).optional()),
  /** The From of notices (`Migration desk <desk@example.jp>`); unset: the customer's sales owner. Replies go to the sales owner either way. */
  MAIL_FROM: z.preprocess(emptyAsUndefined, z.string().min(3).max(300).optional()),
  /** Where digests and escalation events are POSTed as JSON; unset: they are only logged. */
  NOTIFY_WEBHOOK_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^https?$/, error: 'expected an http(s):// URL' }).optional()),
  /** HMAC-SHA256 key; the signature is sent as `x-mdt-signature: sha256=<hex>` over the raw body. */
  NOTIFY_WEBHOOK_SECRET: z.preprocess(emptyAsUndefined, z.string().min(16, 'use at least 16 characters').optional()),
  /** Bearer token Prometheus sends for /metrics; unset: /metrics answers loopback clients only. */
  METRICS_TOKEN: z.preprocess(emptyAsUndefined, z.string().min(16, 'use at least 16 characters').optional()),
  /** The time zone of the daily digest (08:00 there). */
  DIGEST_TIMEZONE: z.string().default('Asia/Tokyo'),
  /** How long a worker holds a job's lock: a worker that dies is noticed, and its job run again, within twice this. */
  JOB_LOCK_MS: z.coerce.number().int().min(500).max(600_000).default(30_000),
  JOB_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
  /** Requests a minute per bearer token (or dashboard session); 0: no limit. Shared through Redis when REDIS_URL is set. */
  RATE_LIMIT_PER_TOKEN: z.coerce.number().int().min(0).default(600),
  /** Requests a minute per client IP, signed in or not; 0: no limit. */
  RATE_LIMIT_PER_IP: z.coerce.number().int().min(0).default(1200),
  /** Trust X-Forwarded-For from this many proxy hops in front (0: the socket's address is the client). */
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  /** Longest time to receive a whole request (slow clients are cut with 408); 0: no limit. */
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
  /** Longest a single SQL statement may run before PostgreSQL cancels it (the request answers 503). */
  STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
});
export type Config = z.infer<typeof Config>;

const ConfigWithRules = Config.superRefine((c, ctx) => {
  if (c.DATABASE_OWNER_URL && !c.DATABASE_URL) {
    ctx.addIssue({ code: 'custom', path: ['DATABASE_OWNER_URL'], message: 'needs DATABASE_URL too (the service connects as its role)' });
  }
  if (c.NOTIFY_WEBHOOK_URL && !c.NOTIFY_WEBHOOK_SECRET) {
    ctx.addIssue({ code: 'custom', path: ['NOTIFY_WEBHOOK_SECRET'], message: 'is required when NOTIFY_WEBHOOK_URL is set (deliveries are signed)' });
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: c.DIGEST_TIMEZONE });
  } catch {
    ctx.addIssue({ code: 'custom', path: ['DIGEST_TIMEZONE'], message: 'is not an IANA time zone' });
  }
});

/** Variables whose value is a secret: an error names them, never shows them. */
const SECRET_VARIABLES = new Set(['NOTIFY_WEBHOOK_SECRET', 'METRICS_TOKEN', 'LINK_SECRET']);

/**
 * A configuration value as an error may show it (errors end up in logs and CI output): a secret only by
 * its length; a URL with its password and any password, secret, token or key parameter masked, even
 * when it does not parse.
 */
export function shownValue(name: string, value: string): string {
  if (SECRET_VARIABLES.has(name)) return `a value of ${value.length} characters, not shown`;
  if (!name.endsWith('_URL')) return JSON.stringify(value);
  const [, scheme = '', authority = '', rest = ''] = /^([a-z][a-z0-9+.-]*:\/\/)?([^/?#]*)(.*)$/is.exec(value) ?? [];
  const at = authority.lastIndexOf('@');
  const userinfo = authority.slice(0, Math.max(0, at));
  const colon = userinfo.indexOf(':');
  const shownAuthority = at >= 0 && colon >= 0 ? `${userinfo.slice(0, colon)}:***${authority.slice(at)}` : authority;
  const shownRest = rest.replace(/([?&;](?:password|passwd|secret|token|key|api[_-]?key|access_token)=)[^&;#]*/gi, '$1***');
  return JSON.stringify(scheme + shownAuthority + shownRest);
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment once per entry point; a bad variable fails with its name and the reason. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = ConfigWithRules.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const value = env[name];
      return `  ${name}: ${issue.message}${value === undefined ? '' : ` (got ${shownValue(name, value)})`}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return { ...result.data, DATA_DIR: path.resolve(result.data.DATA_DIR) };
}

export const isEmbedded = (config: Config) => config.DATABASE_URL === undefined;
