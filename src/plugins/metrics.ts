import fp from 'fastify-plugin';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { countPendingOutbox } from '../outbox/outbox-repository.ts';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

/** Prometheus metrics: request latency by route, job counts by queue and state, pending outbox rows. */
export const metricsPlugin = fp(
  async (app) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const latency = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    new Gauge({
      name: 'jobs',
      help: 'Jobs by queue and state',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset();
        const counts = await app.jobs.counts().catch(() => ({}));
        for (const [queue, states] of Object.entries(counts)) {
          for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
        }
      },
    });
    new Gauge({
      name: 'outbox_pending',
      help: 'Jobs written by requests and not yet handed to the job runtime',
      registers: [registry],
      async collect() {
        const n = await countPendingOutbox(app.db).catch(() => undefined);
        if (n !== undefined) this.set(n);
      },
    });
    app.decorate('metrics', registry);
    app.addHook('onResponse', async (request, reply) => {
      latency.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode }, reply.elapsedTime / 1000);
    });
  },
  { name: 'metrics', dependencies: ['db', 'queues'] },
);
