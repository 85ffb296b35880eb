import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { programBody } from './helpers/factories.ts';
import { freePort, runProcess, startProcess, waitForHttp, type Running } from './helpers/processes.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-embedded-'));
let server: Running | undefined;
afterAll(async () => {
  await server?.stop('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** `npm start` with nothing configured: PGlite in DATA_DIR, jobs in-process. */
describe('embedded mode (npm start on defaults)', () => {
  it('starts, hands out a first admin token once, keeps data across a restart and locks out a second process', async () => {
    const port = await freePort();
    const env = { DATA_DIR: dataDir, PORT: String(port), IMPORT_INLINE_BYTES: '1000' };
    const base = `http://127.0.0.1:${port}`;

    server = startProcess('dist/src/server.js', [], env);
    await waitForHttp(`${base}/healthz`, server, 30_000);
    const tokenFile = path.join(dataDir, 'admin-token');
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    expect(token).toMatch(/^mdt_/);
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(server.output()).toContain(token);
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

    const ready = await fetch(`${base}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { database: { ok: true }, jobs: { ok: true } } });
    const created = await fetch(`${base}/v1/programs`, { method: 'POST', headers: auth, body: JSON.stringify(programBody({ name: '残す' })) });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    // An import over IMPORT_INLINE_BYTES runs as a job, here in-process, its file stored in PGlite.
    const csv = `external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department\n${Array.from({ length: 40 }, (_, i) => `E-${i},会社${i},e${i}.example.jp,e@example.jp,E,営業\n`).join('')}`;
    const queued = await fetch(`${base}/v1/programs/${id}/imports`, { method: 'POST', headers: { ...auth, 'content-type': 'text/csv' }, body: csv });
    expect(queued.status).toBe(202);
    const location = queued.headers.get('location')!;
    let job: { state: string; result: { created: number } | null } = { state: 'queued', result: null };
    for (let i = 0; i < 200 && job.state !== 'done' && job.state !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await (await fetch(`${base}${location}`, { headers: auth })).json()) as typeof job;
    }
    expect(job).toMatchObject({ state: 'done', result: { created: 40 } });

    // Only one process may open the embedded database.
    const cli = await runProcess('src/cli.ts', ['token', 'list'], env);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/in use by process \d+/);

    // SIGTERM during a burst of writes: requests in flight finish, nothing answered 201 is lost,
    // and nothing is written without its answer.
    const burst = Array.from({ length: 20 }, (_, i) =>
      fetch(`${base}/v1/programs`, { method: 'POST', headers: auth, body: JSON.stringify(programBody({ name: `burst ${i}` })) })
        .then((r) => r.status)
        .catch(() => 'refused' as const),
    );
    await new Promise((r) => setTimeout(r, 15));
    const stopped = server.stop();
    const statuses = await Promise.all(burst);
    expect(await stopped).toBe(0);
    expect(
      statuses.every((s) => s === 201 || s === 503 || s === 'refused'),
      String(statuses),
    ).toBe(true);
    const accepted = statuses.filter((s) => s === 201).length;
    expect(fs.existsSync(path.join(dataDir, 'lock.pid'))).toBe(false);

    server = startProcess('dist/src/server.js', [], env);
    await waitForHttp(`${base}/healthz`, server, 30_000);
    const again = await fetch(`${base}/v1/programs/${id}`, { headers: auth });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { name: string }).name).toBe('残す');
    const all = (await (await fetch(`${base}/v1/programs?limit=200`, { headers: auth })).json()) as { items: { name: string }[] };
    expect(all.items.filter((p) => p.name.startsWith('burst ')).length).toBe(accepted);
    expect(fs.readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(server.output()).not.toContain('First start');
    expect(await server.stop()).toBe(0);

    // With the server stopped, the CLI may open the data dir.
    const listed = await runProcess('src/cli.ts', ['token', 'list'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/first-admin/);
    // The bulk import's array-parameter SQL runs on PGlite as on PostgreSQL.
    const imported = await runProcess('src/cli.ts', ['import', path.join(import.meta.dirname, 'fixtures', 'customers-sample.csv'), '--program', id], env);
    expect(imported.stdout).toMatch(/^imported: 6 created/m);
    expect(imported.code).toBe(0);
  }, 120_000);
});
