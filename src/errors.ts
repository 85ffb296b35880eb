import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** One entry of `errors` in a validation problem: which field, what is wrong with it. */
export const FieldError = z.object({
  path: z.string().meta({ description: 'The field, e.g. `body.legacy.spfIncludes.0` or `query.limit`' }),
  message: z.string(),
});
export type FieldError = z.infer<typeof FieldError>;

/** RFC 9457 problem details; every error this service sends has this shape. */
export const Problem = z
  .looseObject({
    type: z.string().meta({ description: 'URI identifying the kind of problem' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional().meta({ description: 'The request path' }),
    code: z.string().meta({ description: 'Stable machine-readable code, e.g. APP_PROGRAM_NOT_FOUND' }),
    requestId: z.string().optional(),
    errors: z.array(FieldError).optional(),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof Problem>;

/** An error response in a route schema, documented with its real media type. */
export const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: Problem } },
});

export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; [key: string]: unknown } = {},
  ) {
    super(message);
  }
}

/** The catalogue: every coded error the service raises. `%s` placeholders take the call's arguments. */
function define(code: string, message: string, statusCode: number) {
  return (...args: unknown[]) => {
    let i = 0;
    return new AppError(
      code,
      statusCode,
      message.replace(/%s/g, () => String(args[i++])),
    );
  };
}

export const errors = {
  programNotFound: define('APP_PROGRAM_NOT_FOUND', 'Program %s not found', 404),
  importNotFound: define('APP_IMPORT_NOT_FOUND', 'Import %s not found', 404),
  tokenNotFound: define('APP_TOKEN_NOT_FOUND', 'Token %s not found', 404),
  salesOwnerNotFound: define('APP_SALES_OWNER_NOT_FOUND', 'Sales owner %s not found', 404),
  customerNotFound: define('APP_CUSTOMER_NOT_FOUND', 'Customer %s not found', 404),
  domainNotFound: define('APP_DOMAIN_NOT_FOUND', 'Domain %s not found', 404),
  notFoundDismissalConflict: define(
    'APP_VERDICT_NOT_DOMAIN_NOT_FOUND',
    'The latest verdict of %s is %s, not domain_not_found: only a domain the last determined check found missing from DNS can be dismissed',
    409,
  ),
  preconditionRequired: define(
    'APP_PRECONDITION_REQUIRED',
    'This change requires an If-Match header with the ETag from your last GET, so it cannot overwrite a newer version',
    428,
  ),
  versionMismatch: define(
    'APP_VERSION_MISMATCH',
    'The resource changed since you read it (you sent version %s, the current version is %s); GET it again and retry',
    412,
  ),
  unauthenticated: define('APP_UNAUTHENTICATED', '%s', 401),
  forbidden: define('APP_FORBIDDEN', '%s', 403),
  databaseUnavailable: define('APP_DATABASE_UNAVAILABLE', 'The database is unreachable; retry shortly', 503),
  databaseTimeout: define('APP_DATABASE_TIMEOUT', 'The database did not finish this in time (STATEMENT_TIMEOUT_MS); nothing was changed', 503),
} as const;

/** A 400 naming the offending fields, for rules the route schema cannot express. */
export function validationError(fieldErrors: FieldError[]): AppError {
  return new AppError('APP_VALIDATION', 400, describeFieldErrors(fieldErrors), { errors: fieldErrors });
}

function describeFieldErrors(fieldErrors: FieldError[]) {
  const first = fieldErrors[0];
  if (!first) return 'The request is invalid';
  const more = fieldErrors.length > 1 ? ` (and ${fieldErrors.length - 1} more)` : '';
  return `${first.path}: ${first.message}${more}`;
}

const slug = (code: string) =>
  code
    .replace(/^(APP|FST_ERR)_/, '')
    .toLowerCase()
    .replace(/_/g, '-');
const problemType = (code: string) => `urn:mdt:problem:${slug(code)}`;

const contextNames: Record<string, string> = { querystring: 'query', params: 'path' };

/** Fastify's own client errors, mapped to stable codes and clear words. */
function fromFastifyError(err: FastifyError, bodyLimit: number): AppError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('APP_BODY_TOO_LARGE', 413, `The request body is larger than ${bodyLimit} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('APP_UNSUPPORTED_MEDIA_TYPE', 415, err.message);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return validationError([{ path: 'body', message: 'the body is empty; send a JSON object' }]);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return validationError([{ path: 'body', message: `malformed JSON: ${err.message}` }]);
    // The router's own refusals, before any route: an id no route parameter could hold, a bad URL.
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return validationError([{ path: 'params', message: 'a path segment is longer than 100 characters' }]);
    case 'FST_ERR_BAD_URL':
      return validationError([{ path: 'params', message: 'the URL is not valid' }]);
  }
  if (err instanceof SyntaxError && err.statusCode === 400) {
    return validationError([{ path: 'body', message: `malformed JSON: ${err.message}` }]);
  }
  return undefined;
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

export function toProblem(err: unknown, request: FastifyRequest, bodyLimit: number): Problem {
  let appError: AppError | undefined;
  if (err instanceof AppError) appError = err;
  else if (hasZodFastifySchemaValidationErrors(err)) {
    const context = contextNames[err.validationContext ?? ''] ?? err.validationContext ?? 'body';
    appError = validationError(
      err.validation.flatMap((v) => {
        const path = [context, ...v.instancePath.split('/').filter(Boolean)];
        // An unknown key is reported at the key itself, so a typo is named where it is.
        const keys = (v.params as { keys?: unknown }).keys;
        if (v.keyword === 'unrecognized_keys' && Array.isArray(keys)) {
          return keys.map((key) => ({ path: [...path, String(key)].join('.'), message: 'is not a known field' }));
        }
        return [{ path: path.join('.'), message: v.message ?? 'invalid' }];
      }),
    );
  } else if (isDatabaseUnavailable(err)) appError = errors.databaseUnavailable();
  else if (pgError(err)?.code === '57014') appError = errors.databaseTimeout();
  // The text guard refuses such input by field first; this is the net under any path it misses.
  else if (['22021', '22P05'].includes(pgError(err)?.code ?? '')) {
    appError = validationError([{ path: 'body', message: 'holds text the database cannot store (a NUL character or invalid Unicode)' }]);
  } else if (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! < 500) {
    const fe = err as FastifyError;
    appError = fromFastifyError(fe, bodyLimit) ?? new AppError(fe.code ?? 'APP_BAD_REQUEST', fe.statusCode!, fe.message);
  }
  const status = appError?.statusCode ?? 500;
  const code = appError?.code ?? 'APP_INTERNAL';
  const { headers: _headers, ...extra } = appError?.extra ?? {};
  return {
    type: problemType(code),
    title: STATUS_CODES[status] ?? 'Error',
    status,
    // 5xx never echo internal messages; the log has them under the request id.
    detail: appError ? appError.message : `An internal error occurred; quote request id ${request.id} when reporting it`,
    instance: request.url.split('?')[0],
    code,
    requestId: String(request.id),
    ...extra,
  };
}

export function sendProblem(reply: FastifyReply, problem: Problem, headers: Record<string, string> = {}) {
  return reply.code(problem.status).headers(headers).type('application/problem+json').serializer(JSON.stringify).send(problem);
}

/** Errors the router raises before any route (Fastify's `frameworkErrors` option). */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  return sendProblem(reply, toProblem(err, request, 0));
}

/** The one error handler and 404 handler: every failure leaves as application/problem+json. */
export function registerProblemHandlers(app: FastifyInstance, bodyLimit: number) {
  app.setErrorHandler((err, request, reply) => {
    const problem = toProblem(err, request, bodyLimit);
    if (problem.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: problem.code, status: problem.status }, problem.detail);
    const headers = err instanceof AppError ? err.extra.headers : undefined;
    return sendProblem(reply, problem, headers);
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new AppError('APP_ROUTE_NOT_FOUND', 404, `No route ${request.method} ${request.url.split('?')[0]}`);
    return sendProblem(reply, toProblem(err, request, bodyLimit));
  });
}
