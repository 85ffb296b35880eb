import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Database } from '../db/client.ts';
import type { JobRuntime } from './job-contract/runtime.ts';
import type { Config } from './config.ts';
import { loggerOptions } from './logging.ts';
import { answerConditionalGets } from './http/etag.ts';
import { rejectUnstorableText } from './http/text-guard.ts';
import { mailPlugin } from './plugins/mail.ts';
import { createResolver, type DnsLookup } from './dns/resolver.ts';
import { frameworkErrorHandler, registerProblemHandlers } from './http/problems.ts';
import { adminRoutes } from './ops/admin-routes.ts';
import { opsRoutes } from './ops/ops-routes.ts';
import { authPlugin, protectScope } from './plugins/auth.ts';
import { dbPlugin } from './plugins/db.ts';
import { metricsPlugin } from './plugins/metrics.ts';
import { queuesPlugin } from './plugins/queues.ts';
import { rateLimitPlugin } from './plugins/rate-limit.ts';
import { swaggerPlugin } from './plugins/swagger.ts';
import { customerRoutes } from './customers/customer-routes.ts';
import { contactRoutes } from './contacts/contact-routes.ts';
import { outreachRoutes } from './outreach/outreach-routes.ts';
import { dashboardRoutes } from './dashboard/dashboard-routes.ts';
import { selfCheckPages } from './dashboard/self-check-pages.ts';
import { importRoutes } from './imports/import-routes.ts';
import { reportRoutes } from './reports/report-routes.ts';
import { taskRoutes } from './tasks/task-routes.ts';
import { programRoutes } from './programs/program-routes.ts';
import { salesOwnerRoutes } from './sales-owners/sales-owner-routes.ts';
import { sessionRoutes } from './sessions/session-routes.ts';
import { tokenRoutes } from './tokens/token-routes.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The clock; injected so tests and the CLI can set the time. */
    now: () => Date;
    config: Config;
    /** The resolver of on-demand questions (the SPF test): uncached, so a fix shows at once. */
    dns: DnsLookup;
  }
}

export interface AppDeps {
  database: Database;
  jobs: JobRuntime;
  now?: () => Date;
  /** An existing pino logger (the entry point's); otherwise one is made from the config. */
  logger?: FastifyBaseLogger;
  relayPollMs?: number;
  /** Default: the configured DNS servers (DNS_SERVERS, DNS_TIMEOUT_MS). */
  dns?: DnsLookup;
}

/** A request id from the caller is kept when it looks like one (so logs join up across services). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(config: Config, deps: AppDeps) {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: loggerOptions(config) }),
    bodyLimit: config.BODY_LIMIT_BYTES,
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    // Also given to Node's server itself, which then derives its headers timeout from it (set only
    // afterwards, as Fastify does, the 60 s headers timeout wins and a slow body is never cut); and
    // how often Node looks for expired requests (its 30 s default would let a short timeout slip).
    http: {
      requestTimeout: config.REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: Math.max(250, Math.min(30_000, config.REQUEST_TIMEOUT_MS / 4 || 30_000)),
    },
    // X-Forwarded-For is believed for exactly the configured number of proxy hops.
    trustProxy: (_address: string, hop: number) => hop < config.TRUST_PROXY_HOPS,
    // genReqId reads x-request-id itself: with requestIdHeader set, Fastify would take any value unchecked.
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    // Close keep-alive connections that are idle at shutdown; in-flight requests finish first.
    forceCloseConnections: 'idle',
    frameworkErrors: frameworkErrorHandler,
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  rejectUnstorableText(app);
  answerConditionalGets(app);
  app.decorate('now', deps.now ?? (() => new Date()));
  app.decorate('config', config);
  app.decorate('dns', deps.dns ?? createResolver({ servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: 2 }));
  // Graceful shutdown: requests in flight finish, and their keep-alive connections close after the
  // answer (Node closes only the connections idle when the close began, so a busy one would keep the
  // close waiting for its keep-alive timeout).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff'); // JSON and CSV are never to be sniffed as HTML
    if (closing) reply.header('connection', 'close');
  });
  registerProblemHandlers(app, config.BODY_LIMIT_BYTES);
  // The API speaks JSON; a text body would otherwise reach validation as a string instead of a 415.
  app.removeContentTypeParser('text/plain');

  // Security headers on every answer (helmet's defaults); the API sends no HTML, so no CSP here: the
  // dashboard sets its own strict one, and /docs (Swagger UI) needs scripts.
  await app.register(helmet, { contentSecurityPolicy: false, global: true });
  // Cookies (the dashboard's session and CSRF token) are parsed before the rate limiter reads them.
  await app.register(cookie);
  await app.register(dbPlugin, { database: deps.database });
  await app.register(mailPlugin);
  await app.register(queuesPlugin, { jobs: deps.jobs, relayPollMs: deps.relayPollMs });
  await app.register(rateLimitPlugin, {
    perToken: config.RATE_LIMIT_PER_TOKEN,
    perIp: config.RATE_LIMIT_PER_IP,
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
  });
  await app.register(authPlugin);
  await app.register(metricsPlugin);
  await app.register(swaggerPlugin);

  await app.register(opsRoutes);
  await app.register(
    async (v1) => {
      protectScope(v1);
      await v1.register(programRoutes);
      await v1.register(salesOwnerRoutes);
      await v1.register(customerRoutes);
      await v1.register(contactRoutes);
      await v1.register(outreachRoutes);
      await v1.register(importRoutes);
      await v1.register(taskRoutes);
      await v1.register(reportRoutes);
      await v1.register(sessionRoutes);
      await v1.register(tokenRoutes);
    },
    { prefix: '/v1' },
  );
  await app.register(dashboardRoutes, { prefix: '/dashboard' });
  await app.register(selfCheckPages, { prefix: '/check' });
  await app.register(
    async (admin) => {
      protectScope(admin);
      await admin.register(adminRoutes);
    },
    { prefix: '/admin' },
  );
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
