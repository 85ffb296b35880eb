import fp from 'fastify-plugin';
import type { JobRuntime } from '../job-contract/runtime.ts';
import { OutboxRelay } from '../outbox/outbox-relay.ts';

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobRuntime;
    outbox: OutboxRelay;
  }
}

/**
 * The job runtime and the outbox relay that feeds it. Every successful mutating request wakes the
 * relay, so a job written in a request's transaction is delivered right after the commit.
 */
export const queuesPlugin = fp<{ jobs: JobRuntime; relayPollMs?: number }>(
  async (app, { jobs, relayPollMs }) => {
    const relay = new OutboxRelay({ db: app.db, jobs, log: app.log, now: app.now, pollMs: relayPollMs });
    app.decorate('jobs', jobs);
    app.decorate('outbox', relay);
    app.addHook('onReady', async () => relay.start());
    app.addHook('onResponse', async (request, reply) => {
      if (request.method !== 'GET' && request.method !== 'HEAD' && reply.statusCode < 300) relay.wake();
    });
    app.addHook('onClose', async () => relay.stop());
  },
  { name: 'queues', dependencies: ['db'] },
);
