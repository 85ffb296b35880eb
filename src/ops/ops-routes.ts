import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors } from '../errors.ts';
import { problem, sendProblem, toProblem } from '../http/problems.ts';

const Check = z.object({ ok: z.boolean(), error: z.string().optional() });
const Readiness = z.object({
  status: z.literal('ok'),
  checks: z.object({ database: Check, jobs: Check }),
});

const withTimeout = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

async function probe(fn: () => Promise<unknown>) {
  try {
    await withTimeout(fn(), 2000);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message || String(err) };
  }
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
      summary: 'The database and, when configured, Redis answer; 503 says which does not',
      response: { 200: Readiness, 503: problem('Not ready; `checks` says which dependency failed') },
    },
    handler: async (request, reply) => {
      const [database, jobs] = await Promise.all([probe(() => app.database.ping()), probe(() => app.jobs.ping())]);
      if (database.ok && jobs.ok) return { status: 'ok' as const, checks: { database, jobs } };
      const failing = [!database.ok && 'database', !jobs.ok && 'redis'].filter(Boolean).join(' and ');
      const err = errors.notReady(failing, { checks: { database, jobs } });
      return sendProblem(reply, toProblem(err, request, 0));
    },
  });

  app.get('/metrics', {
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics (text exposition format)',
      produces: ['text/plain'],
      response: { 200: z.string() },
    },
    handler: async (_request, reply) => {
      reply.type(app.metrics.contentType);
      return app.metrics.metrics();
    },
  });
};
