import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { errors } from '../errors.ts';
import { cookieOf, SESSION_COOKIE } from '../http/cookies.ts';
import { bearerToken, clientKey } from '../http/credentials.ts';

const WINDOW_MS = 60_000;

/** Counts hits per key in the current one-minute window; `null` when the count is unknown. */
interface Counter {
  hit(key: string, windowStart: number): Promise<number | null>;
  close(): Promise<void>;
}

/** One process (embedded mode): a map of the current window's counts. */
function memoryCounter(): Counter {
  let window = 0;
  let counts = new Map<string, number>();
  return {
    async hit(key, windowStart) {
      if (windowStart !== window) [window, counts] = [windowStart, new Map()];
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      return n;
    },
    async close() {},
  };
}

/**
 * Several API processes share one count through Redis (INCR and PEXPIRE in one round trip). When
 * Redis does not answer, the request goes through uncounted: a Redis outage must not stop the API.
 */
function redisCounter(url: string, prefix: string, onError: (err: Error) => void): Counter {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 250 });
  redis.on('error', onError);
  return {
    async hit(key, windowStart) {
      const k = `${prefix}:rl:${key}:${windowStart}`;
      try {
        const result = await redis
          .multi()
          .incr(k)
          .pexpire(k, WINDOW_MS * 2)
          .exec();
        return Number(result?.[0]?.[1] ?? 0);
      } catch (err) {
        onError(err as Error);
        return null;
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}

export interface RateLimitOptions {
  perToken: number;
  perIp: number;
  redisUrl: string | undefined;
  prefix: string;
}

/**
 * Requests per minute per bearer token and per client address (IPv6 by its /64; 0: no limit), in fixed one-minute
 * windows. The token is identified by a hash of what was sent, so the limit costs no database
 * query and forged tokens are counted too (and limited per IP). Over the limit: 429 problem+json
 * with Retry-After; every answer carries RateLimit-Limit/-Remaining/-Reset for the tighter limit.
 * Health, readiness and metrics are not limited.
 */
export const rateLimitPlugin = fp<RateLimitOptions>(
  async (app, options) => {
    if (options.perToken === 0 && options.perIp === 0) return;
    const counter = options.redisUrl
      ? redisCounter(options.redisUrl, options.prefix, (err) => app.log.warn({ err }, 'rate limit store unavailable'))
      : memoryCounter();
    app.addHook('onClose', () => counter.close());

    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (/^\/(healthz|readyz|metrics)(\?|$)/.test(request.url)) return;
      const now = app.now().getTime();
      const windowStart = now - (now % WINDOW_MS);
      const resetSeconds = Math.ceil((windowStart + WINDOW_MS - now) / 1000);
      const checks: [string, number][] = [];
      if (options.perIp > 0) checks.push([`ip:${clientKey(request.ip)}`, options.perIp]);
      // The token as the authentication reads it: `Bearer<TAB>tok` and `Bearer  tok ` are one token.
      const token = bearerToken(request.headers.authorization) ?? cookieOf(request, SESSION_COOKIE);
      if (options.perToken > 0 && token) checks.push([`token:${createHash('sha256').update(token).digest('hex').slice(0, 32)}`, options.perToken]);
      let remaining = Infinity;
      let limit = 0;
      for (const [key, max] of checks) {
        const count = await counter.hit(key, windowStart);
        if (count === null) continue;
        if (max - count < remaining) [remaining, limit] = [max - count, max];
      }
      if (limit === 0) return;
      reply.headers({ 'ratelimit-limit': limit, 'ratelimit-remaining': Math.max(0, remaining), 'ratelimit-reset': resetSeconds });
      if (remaining < 0) {
        throw errors.rateLimited(limit, resetSeconds, {
          headers: { 'retry-after': String(resetSeconds) },
        });
      }
    });
  },
  { name: 'rate-limit' },
);
