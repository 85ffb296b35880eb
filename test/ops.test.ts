import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBullRuntime } from '../jobs/bullmq.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeToken } from './helpers/factories.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

describe('operations endpoints', () => {
  it('answers /healthz without a token', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with each dependency checked', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', checks: { database: { ok: true }, jobs: { ok: true } } });
  });

  it('answers /readyz 200 "degraded" naming Redis when Redis is unreachable: the API serves on, so the load balancer keeps it', async () => {
    // A port nothing listens on: the job runtime cannot reach Redis.
    const down = await buildTestApp({
      jobs: () => createBullRuntime({ redisUrl: 'redis://127.0.0.1:1', prefix: 'unreachable' }, () => {}),
    });
    try {
      const res = await down.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'degraded', checks: { database: { ok: true }, jobs: { ok: false, error: 'unreachable' } } });
    } finally {
      await down.close();
    }
  });

  it('exposes request latency by route and job counts by queue and state in /metrics', async () => {
    const { auth } = await makeToken(t.db, 'admin');
    await t.app.inject({ method: 'GET', url: '/v1/programs', headers: auth });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/v1\/programs",status_code="200"\} 1/);
    expect(res.body).toMatch(/jobs\{queue="programs",state="waiting"\} 0/);
    expect(res.body).toMatch(/jobs\{queue="housekeeping",state="failed"\} 0/);
    expect(res.body).toMatch(/outbox_pending 0/);
  });

  it('answers unknown routes with a problem+json 404 and echoes a sane x-request-id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/nope', headers: { 'x-request-id': 'abc-123' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(res.json()).toMatchObject({ code: 'APP_ROUTE_NOT_FOUND', instance: '/v1/nope', requestId: 'abc-123' });
    const weird = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': `spaces are not ok ${'x'.repeat(200)}` } });
    expect(weird.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves the OpenAPI document at /openapi.json and interactive docs at /docs', async () => {
    const spec = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(spec.statusCode).toBe(200);
    expect(spec.json().openapi).toBe('3.1.0');
    expect(Object.keys(spec.json().paths)).toContain('/v1/programs/{id}');
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toMatch(/swagger/i);
  });

  it('shows admins the queues at /admin/queues: counts, pending outbox rows and failed jobs with reasons', async () => {
    const admin = (await makeToken(t.db, 'admin')).auth;
    const manager = (await makeToken(t.db, 'manager', { department: 'x' })).auth;
    await t.jobs.enqueue('programs', 'mark-domains-due', { programId: 'not-a-uuid' } as never, 'bad-payload');
    const res = await t.app.inject({ method: 'GET', url: '/admin/queues', headers: admin });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ mode: 'inline', outboxPending: 0, queues: { programs: { failed: 1 }, probes: { waiting: 0 } } });
    expect(body.failed[0]).toMatchObject({ queue: 'programs', id: 'bad-payload', attemptsMade: 1, failedReason: expect.stringMatching(/Invalid payload/) });
    expect((await t.app.inject({ method: 'GET', url: '/admin/queues', headers: manager })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: '/admin/queues' })).statusCode).toBe(401);
  });
});
