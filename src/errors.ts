import { z } from 'zod';

/**
 * The error catalogue: every code the service can send, once, grouped by feature. Domain modules import
 * it (it imports nothing from fastify); src/http/problems.ts turns an AppError into problem+json. The
 * README's table of codes is rendered from it (src/error-codes-doc.ts; `npm run docs`).
 *
 * Throw one with its factory: `throw errors.customerNotFound(id)`. `%s` placeholders in the message take
 * the leading arguments in order; an optional last argument is the `extra` object (`errors` naming
 * fields, `headers` for the reply, anything else is added to the problem body as it is).
 */

/** One entry of `errors` in a validation problem: which field, what is wrong with it. */
export const FieldError = z.object({
  path: z.string().meta({ description: 'The field, e.g. `body.legacy.spfIncludes.0` or `query.limit`' }),
  message: z.string(),
});
export type FieldError = z.infer<typeof FieldError>;

/** What a throw site adds to the problem: `errors` and other members go into its body, `headers` onto the reply. */
export type ErrorExtra = { errors?: FieldError[]; headers?: Record<string, string>; [key: string]: unknown };

export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    readonly extra: ErrorExtra = {},
  ) {
    super(message);
  }
}

interface Entry {
  code: `APP_${string}`;
  /** The HTTP status the problem is sent with. */
  status: number;
  /** A short name for the README's table. */
  title: string;
  /** The problem's `detail`; each `%s` takes one argument of the factory, in order. */
  message: string;
}

/** A feature's entries, each labelled with the feature for the README's table. */
function feature<const E extends Record<string, Entry>>(name: string, entries: E): { [K in keyof E]: E[K] & { feature: string } } {
  return Object.fromEntries(Object.entries(entries).map(([key, entry]) => [key, { ...entry, feature: name }])) as never;
}

const general = feature('General and HTTP', {
  validation: { code: 'APP_VALIDATION', status: 400, title: 'Invalid request', message: '%s' },
  // Any client error Fastify raises that no finer code maps; it keeps the status Fastify chose (400 mostly).
  badRequest: { code: 'APP_BAD_REQUEST', status: 400, title: 'Other client error (keeps the 4xx status Fastify chose)', message: '%s' },
  routeNotFound: { code: 'APP_ROUTE_NOT_FOUND', status: 404, title: 'No such route', message: 'No route %s %s' },
  bodyTooLarge: { code: 'APP_BODY_TOO_LARGE', status: 413, title: 'Body too large', message: 'The %s is larger than %s bytes' },
  unsupportedMediaType: { code: 'APP_UNSUPPORTED_MEDIA_TYPE', status: 415, title: 'Unsupported media type', message: '%s' },
  uniqueConflict: {
    code: 'APP_CONFLICT',
    status: 409,
    title: 'A concurrent change took the same value',
    message: 'A concurrent change took the same value first (constraint %s); nothing was saved',
  },
  concurrentChange: {
    code: 'APP_CONCURRENT_CHANGE',
    status: 503,
    title: 'Collided with a concurrent change; send it again',
    message: 'This change collided with a concurrent one and was undone whole; send it again',
  },
  preconditionRequired: {
    code: 'APP_PRECONDITION_REQUIRED',
    status: 428,
    title: 'If-Match required',
    message: 'This change requires an If-Match header with the ETag from your last GET, so it cannot overwrite a newer version',
  },
  versionMismatch: {
    code: 'APP_VERSION_MISMATCH',
    status: 412,
    title: 'Stale version',
    message: 'The resource changed since you read it (you sent version %s, the current version is %s); GET it again and retry',
  },
  weakIfMatch: {
    code: 'APP_WEAK_IF_MATCH',
    status: 412,
    title: 'If-Match with a weak ETag',
    message: 'If-Match compares strong ETags only, so a weak one (W/) matches nothing; send the ETag as GET returned it (%s)',
  },
  rateLimited: { code: 'APP_RATE_LIMITED', status: 429, title: 'Too many requests', message: 'More than %s requests a minute; retry in %s s' },
  // 5xx never echo internal messages: this one names only the request id, under which the log has the error.
  internal: { code: 'APP_INTERNAL', status: 500, title: 'Internal error', message: 'An internal error occurred; quote request id %s when reporting it' },
});

const auth = feature('Authentication and access', {
  unauthenticated: { code: 'APP_UNAUTHENTICATED', status: 401, title: 'No valid token', message: '%s' },
  forbidden: { code: 'APP_FORBIDDEN', status: 403, title: 'Role or scope does not allow this', message: '%s' },
});

const programs = feature('Programs', {
  programNotFound: { code: 'APP_PROGRAM_NOT_FOUND', status: 404, title: 'No such program', message: 'Program %s not found' },
});

/** The status workflow (customer-workflow.ts) words its own refusals; the catalogue gives their code and status. */
const customers = feature('Customers and the status workflow', {
  customerNotFound: { code: 'APP_CUSTOMER_NOT_FOUND', status: 404, title: 'No such customer', message: 'Customer %s not found' },
  externalRefTaken: {
    code: 'APP_EXTERNAL_REF_TAKEN',
    status: 409,
    title: 'External ref already used in the program',
    message: 'The program already has a customer with external ref %s',
  },
  illegalTransition: { code: 'APP_ILLEGAL_TRANSITION', status: 409, title: 'Status cannot move there', message: '%s' },
  reopenForbidden: { code: 'APP_REOPEN_FORBIDDEN', status: 403, title: 'Only an admin may reopen', message: '%s' },
  reasonRequired: { code: 'APP_REASON_REQUIRED', status: 409, title: 'Reopening needs a reason', message: '%s' },
  notClean: { code: 'APP_NOT_CLEAN', status: 409, title: 'Completed needs clean DNS', message: '%s' },
  overrideForbidden: { code: 'APP_OVERRIDE_FORBIDDEN', status: 403, title: 'Only a manager or admin may override', message: '%s' },
});

const domains = feature('Domains and checks', {
  domainNotFound: { code: 'APP_DOMAIN_NOT_FOUND', status: 404, title: 'No such domain', message: 'Domain %s not found' },
  domainTaken: { code: 'APP_DOMAIN_TAKEN', status: 409, title: 'Domain held by another customer', message: '%s already belongs to %s in this program' },
  domainExists: { code: 'APP_DOMAIN_EXISTS', status: 409, title: 'Customer already has the domain', message: '%s is already a %s of this customer' },
  domainArchived: {
    code: 'APP_DOMAIN_ARCHIVED',
    status: 409,
    title: 'Domain archived',
    message: '%s was deleted (archived) on %s; an admin may restore it before %s',
  },
  domainNotArchived: { code: 'APP_DOMAIN_NOT_ARCHIVED', status: 409, title: 'Domain not archived', message: '%s is not archived; there is nothing to restore' },
  checkTooSoon: {
    code: 'APP_CHECK_TOO_SOON',
    status: 429,
    title: 'Checked less than a minute ago',
    message: '%s was queued for a check less than a minute ago; try again in %s s',
  },
  notFoundDismissalConflict: {
    code: 'APP_VERDICT_NOT_DOMAIN_NOT_FOUND',
    status: 409,
    title: 'Only a domain_not_found verdict can be dismissed',
    message: 'The latest verdict of %s is %s, not domain_not_found: only a domain the last determined check found missing from DNS can be dismissed',
  },
});

const contacts = feature('Contacts', {
  contactNotFound: { code: 'APP_CONTACT_NOT_FOUND', status: 404, title: 'No such contact', message: 'Contact %s not found' },
});

const outreach = feature('Outreach', {
  selfCheckLinkNotFound: { code: 'APP_SELF_CHECK_LINK_NOT_FOUND', status: 404, title: 'No such self-check link', message: 'Self-check link %s not found' },
  // The page's own answer: the same for an unknown, an expired and a revoked link.
  selfCheckGone: { code: 'APP_SELF_CHECK_GONE', status: 404, title: 'Self-check page not found', message: 'This link is unknown, expired or revoked' },
  recheckTooSoon: {
    code: 'APP_RECHECK_TOO_SOON',
    status: 429,
    title: 'Self-check re-check rate-limited',
    message: 'A link checks again at most once a minute and %s times an hour; try again in %s s',
  },
  noticeNoRecipient: {
    code: 'APP_NOTICE_NO_RECIPIENT',
    status: 409,
    title: 'No technical contact with an email',
    message: 'Customer %s has no technical contact with an email address to send the notice to; add one (POST /v1/customers/{id}/contacts)',
  },
  smtpNotConfigured: {
    code: 'APP_SMTP_NOT_CONFIGURED',
    status: 409,
    title: 'Sending is not configured',
    message: 'Set SMTP_URL to send notices from the service',
  },
  noticeSendFailed: {
    code: 'APP_NOTICE_SEND_FAILED',
    status: 502,
    title: 'The mail server refused the notice',
    message: 'The mail server refused the notice (%s); nothing was logged',
  },
});

const tasks = feature('Tasks', {
  taskNotFound: { code: 'APP_TASK_NOT_FOUND', status: 404, title: 'No such task', message: 'Task %s not found' },
  taskNotOpen: { code: 'APP_TASK_NOT_OPEN', status: 409, title: 'Task not open', message: 'The task is %s; only open tasks can be changed' },
});

const imports = feature('Imports', {
  importNotFound: { code: 'APP_IMPORT_NOT_FOUND', status: 404, title: 'No such import', message: 'Import %s not found' },
  importRunning: {
    code: 'APP_IMPORT_RUNNING',
    status: 409,
    title: 'Another import into the program is running',
    message: '%s into program %s has not finished; send this one again when it has',
  },
  importFailed: { code: 'APP_IMPORT_FAILED', status: 409, title: 'Import failed', message: 'Import %s failed: %s' },
  importInvalid: {
    code: 'APP_IMPORT_INVALID',
    status: 422,
    title: 'File has errors; nothing written',
    message: 'The file has %s error(s); nothing was written',
  },
});

const salesOwners = feature('Sales owners', {
  salesOwnerNotFound: { code: 'APP_SALES_OWNER_NOT_FOUND', status: 404, title: 'No such sales owner', message: 'Sales owner %s not found' },
  emailTaken: { code: 'APP_EMAIL_TAKEN', status: 409, title: 'Email already used', message: 'Another sales owner already has the email %s' },
});

const tokens = feature('Tokens', {
  tokenNotFound: { code: 'APP_TOKEN_NOT_FOUND', status: 404, title: 'No such token', message: 'Token %s not found' },
  sessionNotFound: { code: 'APP_SESSION_NOT_FOUND', status: 404, title: 'No such dashboard session', message: 'Session %s not found' },
});

const ops = feature('Operations', {
  notReady: { code: 'APP_NOT_READY', status: 503, title: 'A dependency is unreachable', message: 'Not ready: %s unreachable' },
  databaseUnavailable: { code: 'APP_DATABASE_UNAVAILABLE', status: 503, title: 'Database unreachable', message: 'The database is unreachable; retry shortly' },
  databaseTimeout: {
    code: 'APP_DATABASE_TIMEOUT',
    status: 503,
    title: 'Statement timed out',
    message: 'The database did not finish this in time (STATEMENT_TIMEOUT_MS); nothing was changed',
  },
});

/** In the README's order. A key repeated across features would be lost in the spread: the catalogue test counts them. */
export const features = [general, auth, programs, customers, contacts, outreach, domains, tasks, imports, salesOwners, tokens, ops] as const;

export const catalogue = {
  ...general,
  ...auth,
  ...programs,
  ...customers,
  ...contacts,
  ...outreach,
  ...domains,
  ...tasks,
  ...imports,
  ...salesOwners,
  ...tokens,
  ...ops,
};
export type ErrorKey = keyof typeof catalogue;

/** One `unknown` per `%s` of a message, so a factory called with too few or too many arguments fails to compile. */
type Placeholders<M extends string> = M extends `${string}%s${infer Rest}` ? [unknown, ...Placeholders<Rest>] : [];
type Factory<M extends string> = (...args: [...Placeholders<M>, extra?: ErrorExtra]) => AppError;

function define({ code, status, message }: Entry) {
  const placeholders = message.split('%s').length - 1;
  return (...args: unknown[]) => {
    let i = 0;
    const extra = args.length > placeholders ? (args[placeholders] as ErrorExtra) : {};
    return new AppError(
      code,
      status,
      message.replace(/%s/g, () => String(args[i++])),
      extra,
    );
  };
}

/** `throw errors.<key>(...placeholders, extra?)`: the catalogue's factories. */
export const errors = Object.fromEntries(Object.entries(catalogue).map(([key, entry]) => [key, define(entry)])) as {
  [K in ErrorKey]: Factory<(typeof catalogue)[K]['message']>;
};

/** Whether `err` is the catalogue's error `key` (any AppError without a key): `isAppError(err, 'importFailed')`. */
export function isAppError(err: unknown, key?: ErrorKey): err is AppError {
  return err instanceof AppError && (key === undefined || err.code === catalogue[key].code);
}

/** A 400 naming the offending fields, for rules the route schema cannot express. */
export function validationError(fieldErrors: FieldError[]): AppError {
  return errors.validation(describeFieldErrors(fieldErrors), { errors: fieldErrors });
}

function describeFieldErrors(fieldErrors: FieldError[]) {
  const first = fieldErrors[0];
  if (!first) return 'The request is invalid';
  const more = fieldErrors.length > 1 ? ` (and ${fieldErrors.length - 1} more)` : '';
  return `${first.path}: ${first.message}${more}`;
}

/** The PostgreSQL error under a driver or drizzle wrapper, if any: its SQLSTATE and constraint. */
export function pgError(err: unknown): { code: string; constraint?: string } | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
      return { code, constraint: (e as { constraint?: string }).constraint };
    }
  }
  return undefined;
}

export const isUniqueViolation = (err: unknown, constraint?: string) => {
  const pg = pgError(err);
  return pg?.code === '23505' && (constraint === undefined || pg.constraint === constraint);
};

/** PostgreSQL/network failures that mean "the database is not there right now" (→ 503, not 500). */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
      // 57P01 admin shutdown, 57P03 cannot connect now, 08xxx connection exceptions
      if (code === '57P01' || code === '57P03' || code.startsWith('08')) return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated|not queryable/i.test(message)) {
      return true;
    }
  }
  return false;
}
