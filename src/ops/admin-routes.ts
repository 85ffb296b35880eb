import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { jobStates } from '../job-contract/runtime.ts';
import { countPendingOutbox } from '../outbox/outbox-repository.ts';

const QueueHealth = z
  .object({
    mode: z.enum(['bullmq', 'inline']),
    queues: z.record(z.string(), z.object(Object.fromEntries(jobStates.map((s) => [s, z.number().int()])) as Record<(typeof jobStates)[number], z.ZodNumber>)),
    outboxPending: z.number().int().meta({ description: 'Jobs written by requests, not yet handed to the queue (e.g. while Redis is down)' }),
    failed: z.array(
      z.object({
        queue: z.string(),
        id: z.string(),
        name: z.string(),
        data: z.unknown(),
        failedReason: z.string(),
        attemptsMade: z.number().int(),
        finishedAt: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'QueueHealth' });

/** Worker health for admins: job counts by queue and state, pending outbox rows, the latest failures. */
export const adminRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/queues', {
    config: { access: 'admin' },
    schema: {
      tags: ['operations'],
      summary: 'Job queues: counts by state, pending outbox rows and the 50 latest failed jobs with their reasons',
      response: { 200: QueueHealth },
    },
    handler: async () => ({
      mode: app.jobs.mode,
      queues: await app.jobs.counts(),
      outboxPending: await countPendingOutbox(app.db),
      failed: await app.jobs.failed(50),
    }),
  });
};
