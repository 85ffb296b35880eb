import { timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors } from '../errors.ts';
import { bearerToken } from '../http/credentials.ts';
import { problem, sendProblem, toProblem } from '../http/problems.ts';

const Check = z.object({ ok: z.boolean(), error: z.string().optional() });
const Readiness = z.object({
  status: z.enum(['ok', 'degraded']).meta({ description: 'degraded: Redis is unreachable; the API serves on, jobs wait in the outbox' }),
  checks: z.object({ database: Check, jobs: Check }),
});

const PROBE_TIMEOUT_MS = 2000;
class ProbeTimeout extends Error {}
const withTimeout = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new ProbeTimeout()), ms).unref())]);

/**
 * Whether a dependency answers within 2 s. The reason is one of two fixed phrases: a driver's message
 * (host names, ports, user names) is for the log, not for anyone who can reach the port.
 */
async function probe(fn: () => Promise<unknown>, what: string, log: FastifyBaseLogger) {
  try {
    await withTimeout(fn(), PROBE_TIMEOUT_MS);
    return { ok: true };
  } catch (err) {
    log.warn({ err }, `readiness: ${what} does not answer`);
    return { ok: false, error: err instanceof ProbeTimeout ? `no answer within ${PROBE_TIMEOUT_MS} ms` : 'unreachable' };
  }
}

/** Loopback, as the client address the trusted proxy hops give (a local reverse proxy's clients are not). */
const isLoopback = (ip: string) => /^(127\.|::1$|::ffff:127\.)/.test(ip);

/** Prometheus with METRICS_TOKEN as its bearer token, or, without one configured, a client on this machine. */
function mayReadMetrics(request: FastifyRequest, token: string | undefined) {
  if (!token) return isLoopback(request.ip);
  const sent = bearerToken(request.headers.authorization);
  return sent !== undefined && sent.length === token.length && timingSafeEqual(Buffer.from(sent), Buffer.from(token));
}

/** Unauthenticated: liveness, readiness and metrics are for load balancers and Prometheus. */
export const opsRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/healthz', {
    schema: {
      tags: ['operations'],
      summary: 'The process is alive',
      response: { 200: z.object({ status: z.literal('ok') }) },
    },
    handler: async () => ({ status: 'ok' as const }),
  });

  app.get('/readyz', {
    schema: {
      tags: ['operations'],
      summary: 'For the load balancer: ready (200) while the database answers; a Redis outage is reported as degraded, not unready',
      description:
        'Without Redis the API keeps serving (jobs wait in the outbox, rate limits let requests through), so taking every API pod out of rotation would turn a queue outage into a full one.',
      response: { 200: Readiness, 503: problem('Not ready: the database does not answer; `checks` says which dependency failed') },
    },
    handler: async (request, reply) => {
      const [database, jobs] = await Promise.all([
        probe(() => app.database.ping(), 'the database', request.log),
        probe(() => app.jobs.ping(), 'redis', request.log),
      ]);
      if (database.ok) return { status: jobs.ok ? ('ok' as const) : ('degraded' as const), checks: { database, jobs } };
      const failing = ['database', !jobs.ok && 'redis'].filter(Boolean).join(' and ');
      const err = errors.notReady(failing, { checks: { database, jobs } });
      return sendProblem(reply, toProblem(err, request, 0));
    },
  });

  app.get('/metrics', {
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics (text exposition format)',
      description: 'For Prometheus: with `Authorization: Bearer <METRICS_TOKEN>`, or, when no METRICS_TOKEN is configured, from this machine only.',
      produces: ['text/plain'],
      response: { 200: z.string(), 403: problem('Neither the metrics token nor a loopback client') },
    },
    handler: async (request, reply) => {
      if (!mayReadMetrics(request, app.config.METRICS_TOKEN)) {
        throw errors.forbidden(
          app.config.METRICS_TOKEN
            ? 'Send the metrics token: Authorization: Bearer <METRICS_TOKEN>'
            : 'Metrics are served to this machine only (or set METRICS_TOKEN)',
        );
      }
      reply.type(app.metrics.contentType);
      return app.metrics.metrics();
    },
  });
};
