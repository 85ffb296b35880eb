import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, catalogue, errors, FieldError, isDatabaseUnavailable, pgError, validationError } from '../errors.ts';

/** RFC 9457 problem details; every error this service sends has this shape. */
export const Problem = z
  .looseObject({
    type: z.string().meta({ description: 'URI identifying the kind of problem' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional().meta({ description: 'The request path' }),
    code: z.string().meta({ description: `Stable machine-readable code, e.g. ${catalogue.programNotFound.code}` }),
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

/** `urn:mdt:problem:program-not-found` for the code of `programNotFound`: the code without its prefix, in kebab case. */
const problemType = (code: string) =>
  `urn:mdt:problem:${code
    .replace(/^[A-Z]+_/, '')
    .toLowerCase()
    .replace(/_/g, '-')}`;

const contextNames: Record<string, string> = { querystring: 'query', params: 'path' };

/** Fastify's own client errors, mapped to catalogue codes and clear words. */
function fromFastifyError(err: FastifyError, bodyLimit: number): AppError {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errors.bodyTooLarge('request body', bodyLimit);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errors.unsupportedMediaType(err.message);
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
  // Any other client error keeps the status Fastify chose, under the catalogue's catch-all code (never Fastify's own).
  return new AppError(catalogue.badRequest.code, err.statusCode!, err.message);
}

/** The catalogue error an exception stands for; anything not recognised is the internal error (500). */
function toAppError(err: unknown, request: FastifyRequest, bodyLimit: number): AppError {
  if (err instanceof AppError) return err;
  if (hasZodFastifySchemaValidationErrors(err)) {
    const context = contextNames[err.validationContext ?? ''] ?? err.validationContext ?? 'body';
    return validationError(
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
  }
  if (isDatabaseUnavailable(err)) return errors.databaseUnavailable();
  if (pgError(err)?.code === '57014') return errors.databaseTimeout();
  // The text guard refuses such input by field first; this is the net under any path it misses.
  if (['22021', '22P05'].includes(pgError(err)?.code ?? '')) {
    return validationError([{ path: 'body', message: 'holds text the database cannot store (a NUL character or invalid Unicode)' }]);
  }
  // Races the services do not name themselves: a unique value a concurrent request took first (the
  // transaction is undone: nothing was saved), a deadlock or serialization victim (undone too: send it again).
  const pg = pgError(err);
  if (pg?.code === '23505') return errors.uniqueConflict(pg.constraint ?? 'unique');
  if (pg?.code === '40P01' || pg?.code === '40001') return errors.concurrentChange({ headers: { 'retry-after': '1' } });
  const statusCode = (err as FastifyError).statusCode;
  if (typeof statusCode === 'number' && statusCode < 500) return fromFastifyError(err as FastifyError, bodyLimit);
  // 5xx never echo internal messages; the log has them under the request id.
  return errors.internal(request.id);
}

export function toProblem(err: unknown, request: FastifyRequest, bodyLimit: number): Problem {
  return problemOf(toAppError(err, request, bodyLimit), request);
}

function problemOf(appError: AppError, request: FastifyRequest): Problem {
  const { headers: _headers, ...extra } = appError.extra;
  return {
    type: problemType(appError.code),
    title: STATUS_CODES[appError.statusCode] ?? 'Error',
    status: appError.statusCode,
    detail: appError.message,
    instance: request.url.split('?')[0],
    code: appError.code,
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
    const appError = toAppError(err, request, bodyLimit);
    const problem = problemOf(appError, request);
    if (problem.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: problem.code, status: problem.status }, problem.detail);
    return sendProblem(reply, problem, appError.extra.headers);
  });
  app.setNotFoundHandler((request, reply) => {
    const err = errors.routeNotFound(request.method, request.url.split('?')[0]);
    return sendProblem(reply, toProblem(err, request, bodyLimit));
  });
}
