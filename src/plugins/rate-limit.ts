import { createHash } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { errors } from '../errors.ts';
import { cookieOf, SESSION_COOKIE } from '../http/cookies.ts';
import { bearerToken, clientKey } from '../http/credentials.ts';

const WINDOW_MS = 60_000;
/** Keys one process remembers without Redis (an LRU): enough that a client cannot push its own count out. */
const LOCAL_KEYS = 100_000;

export interface RateLimitOptions {
  perToken: number;
  perIp: number;
  redisUrl: string | undefined;
  prefix: string;
}

/** The token as the authentication reads it (one parser: `Bearer<TAB>tok` and `Bearer  tok ` are one token), or the dashboard session. */
const credentialOf = (request: FastifyRequest) => bearerToken(request.headers.authorization) ?? cookieOf(request, SESSION_COOKIE);

/**
 * Requests per minute per bearer token (or dashboard session) and per client address (IPv6 by its
 * /64; 0: no limit), counted by @fastify/rate-limit: two limiters, both asked in one hook, the tighter
 * one answering. The token is identified by a hash of what was sent, so the limit costs no database
 * query and forged tokens are counted too (and limited per address). Several API processes share the
 * counts through Redis; when Redis does not answer, the request goes through uncounted (a Redis outage
 * must not stop the API). Over the limit: 429 problem+json with Retry-After; every answer carries
 * RateLimit-Limit/-Remaining/-Reset for the tighter limit. Health, readiness and metrics are not limited.
 */
export const rateLimitPlugin = fp<RateLimitOptions>(
  async (app, options) => {
    if (options.perToken === 0 && options.perIp === 0) return;
    const redis = options.redisUrl ? new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 250 }) : undefined;
    if (redis) {
      redis.on('error', (err) => app.log.warn({ err }, 'rate limit store unavailable'));
      app.addHook('onClose', async () => redis.disconnect());
    }
    await app.register(rateLimit, {
      global: false,
      timeWindow: WINDOW_MS,
      skipOnError: true,
      ...(redis ? { redis, nameSpace: `${options.prefix}:rl:` } : { cache: LOCAL_KEYS }),
    });
    const limiters = [
      options.perIp > 0 ? app.createRateLimit({ max: options.perIp, keyGenerator: (request) => `ip:${clientKey(request.ip)}` }) : undefined,
      options.perToken > 0
        ? app.createRateLimit({
            max: options.perToken,
            keyGenerator: (request) => `token:${createHash('sha256').update(credentialOf(request)!).digest('hex').slice(0, 32)}`,
            allowList: (request) => credentialOf(request) === undefined,
          })
        : undefined,
    ].filter((limiter) => limiter !== undefined);

    app.addHook('onRequest', async (request, reply) => {
      if (/^\/(healthz|readyz|metrics)(\?|$)/.test(request.url)) return;
      let tightest: { max: number; remaining: number; ttlInSeconds: number; isExceeded: boolean } | undefined;
      for (const limiter of limiters) {
        const result = await limiter(request);
        // Allowed without counting (no token), or not counted because the store did not answer.
        if (result.isAllowed || result.ttl === 0) continue;
        const tighter =
          !tightest || (result.isExceeded && !tightest.isExceeded) || (result.isExceeded === tightest.isExceeded && result.remaining < tightest.remaining);
        if (tighter) tightest = result;
      }
      if (!tightest) return;
      reply.headers({ 'ratelimit-limit': tightest.max, 'ratelimit-remaining': tightest.remaining, 'ratelimit-reset': tightest.ttlInSeconds });
      if (tightest.isExceeded) {
        throw errors.rateLimited(tightest.max, tightest.ttlInSeconds, { headers: { 'retry-after': String(tightest.ttlInSeconds) } });
      }
    });
  },
  { name: 'rate-limit' },
);
