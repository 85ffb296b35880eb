import path from 'node:path';
import { dereference } from '@readme/openapi-parser';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasks } from '../db/schema/index.ts';
import { buildTestApp, type TestApp } from './helpers/build-test-app.ts';
import { makeCustomer, makeDomain, makeProgram, makeSalesOwner, makeToken } from './helpers/factories.ts';

/**
 * The contract fuzzer: for every operation in openapi.yaml, generated requests, valid and invalid
 * (wrong types, missing and unknown fields, out-of-range values, bad ids, broken JSON, wrong content
 * types, missing or stale If-Match, no or another role's token). Every answer must be below 500,
 * every error application/problem+json, and every JSON body must match the schema the contract
 * gives for its status, which must be documented.
 */
const REQUESTS = 10_000;
const SEED = Number(process.env.FUZZ_SEED ?? 20260930);

type Schema = Record<string, unknown> & {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
};
type Operation = {
  method: string;
  path: string;
  parameters?: { name: string; in: string; required?: boolean; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
};

let t: TestApp;
let operations: Operation[] = [];
const ids: Record<string, string[]> = {};
const tokens: Record<string, string> = {};

beforeAll(async () => {
  const spec = (await dereference(path.join(import.meta.dirname, '..', 'openapi.yaml'))) as unknown as { paths: Record<string, Record<string, Operation>> };
  operations = Object.entries(spec.paths).flatMap(([p, item]) =>
    Object.entries(item)
      .filter(([m]) => ['get', 'post', 'patch', 'put', 'delete'].includes(m))
      .map(([method, op]) => ({ ...op, method: method.toUpperCase(), path: p })),
  );
  t = await buildTestApp();
  const program = await makeProgram(t.db);
  const owner = await makeSalesOwner(t.db, { department: 'Fuzz' });
  const customersMade = await Promise.all(Array.from({ length: 8 }, () => makeCustomer(t.db, program.id, owner.id)));
  const domainsMade = await Promise.all(customersMade.map((c) => makeDomain(t.db, c)));
  const taskRows = await t.db
    .insert(tasks)
    .values(
      customersMade.map((c, i) => ({
        programId: program.id,
        customerId: c.id,
        assigneeId: owner.id,
        kind: 'reminder' as const,
        milestone: 'm',
        dedupeKey: `fuzz-${i}`,
        title: 'fuzz',
        dueAt: new Date(),
      })),
    )
    .returning();
  Object.assign(ids, {
    programs: [program.id],
    'sales-owners': [owner.id],
    customers: customersMade.map((c) => c.id),
    domains: domainsMade.map((d) => d.id),
    tasks: taskRows.map((r) => r.id),
  });
  tokens.admin = (await makeToken(t.db, 'admin')).token;
  tokens.manager = (await makeToken(t.db, 'manager', { department: 'Fuzz' })).token;
  tokens.sales = (await makeToken(t.db, 'sales', { salesOwnerId: owner.id })).token;
}, 60_000);
afterAll(() => t.close());

/** Cursors no list returned: values of the wrong kind, impossible dates, a NUL, another sort's. */
const forgedCursors = [
  ['name', 'a', '00000000-0000-4000-8000-000000000000'],
  ['status', 'x', '00000000-0000-4000-8000-000000000000'],
  ['updatedAt', '2026-02-31 00:00:00+00', '00000000-0000-4000-8000-000000000000'],
  ['2026-02-31T00:00:00Z', 'audit', '1'],
  ['2026-01-01T00:00:00Z', 'status', 'x'],
  ['2026-02-30T00:00:00Z', '00000000-0000-4000-8000-000000000000'],
  [2 ** 40, 'a\u0000', '00000000-0000-4000-8000-000000000000'],
  [1e300],
  'not base64 at all %%',
].map((v) => (typeof v === 'string' ? v : Buffer.from(JSON.stringify(v)).toString('base64url')));

/** A value for a JSON schema; `valid` false bends it out of shape somewhere. */
function valueFor(schema: Schema | undefined, valid: boolean, rnd: () => number, depth = 0): unknown {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  if (!schema || depth > 6) return null;
  if (!valid && rnd() < 0.3)
    return pick([
      null,
      42,
      -1,
      1e308,
      'x'.repeat(300_00),
      '',
      '\u0000',
      'a\u0000b',
      '\ud800',
      'x\udc00y',
      true,
      [],
      {},
      '../../etc/passwd',
      "' OR 1=1 --",
      '<script>',
    ]);
  if ('const' in schema) return schema.const;
  if (schema.enum) return pick(schema.enum);
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return valueFor(pick(variants), valid, rnd, depth + 1);
  const type = Array.isArray(schema.type) ? pick(schema.type) : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, prop] of Object.entries(schema.properties ?? {})) {
        if (schema.required?.includes(key) || rnd() < 0.5) out[key] = valueFor(prop, valid || rnd() < 0.7, rnd, depth + 1);
      }
      if (!valid && rnd() < 0.3) out[`unknown${Math.floor(rnd() * 9)}`] = 1;
      if (!valid && schema.required?.length && rnd() < 0.3) delete out[pick(schema.required)];
      return out;
    }
    case 'array':
      return Array.from({ length: Math.floor(rnd() * 3) }, () => valueFor(schema.items, valid, rnd, depth + 1));
    case 'integer':
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : 0;
      const max = typeof schema.maximum === 'number' ? schema.maximum : min + 100;
      const n = min + rnd() * Math.min(max - min, 1e6);
      return type === 'integer' ? Math.floor(n) : n;
    }
    case 'boolean':
      return rnd() < 0.5;
    case 'null':
      return null;
    case 'string': {
      switch (schema.format) {
        case 'uuid':
          return pick(Object.values(ids).flat().concat(['00000000-0000-4000-8000-000000000000']));
        case 'date':
          return pick(['2022-09-30', '2023-02-29', '2022-13-01']).slice(0, valid ? 10 : undefined);
        case 'date-time':
          return new Date(Date.UTC(2022, 0, 1) + Math.floor(rnd() * 4e10)).toISOString();
        case 'email':
          return `fuzz${Math.floor(rnd() * 1e6)}@example.jp`;
      }
      const length = Math.max(typeof schema.minLength === 'number' ? schema.minLength : 1, Math.floor(rnd() * 12));
      return (
        pick(['fuzz-', '株式会社', 'example.jp', 'FUZZ ', '']) +
        Math.floor(rnd() * 1e9)
          .toString(36)
          .padEnd(length, 'x')
      );
    }
    default:
      return pick(['x', 1, null]);
  }
}

const validators = new Map<Schema, ValidateFunction>();
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
const validatorOf = (schema: Schema) => {
  let v = validators.get(schema);
  if (!v) validators.set(schema, (v = ajv.compile(schema)));
  return v;
};

describe('the contract fuzzer', () => {
  it(`sends ${REQUESTS} generated requests across every route: no 5xx, errors are problem+json, bodies match the contract`, async () => {
    const statuses: Record<string, number> = {};
    const perOperation: Record<string, number> = {};
    const violations: string[] = [];
    const rng = fc.sample(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { seed: SEED, numRuns: REQUESTS * 64 });
    let r = 0;
    const rnd = () => rng[r++ % rng.length]!;
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;

    for (let i = 0; i < REQUESTS; i++) {
      const op = operations[i % operations.length]!;
      const valid = rnd() < 0.5;
      const resource = op.path.split('/').find((s) => ids[s]) ?? 'programs';
      const url = op.path.replace('{id}', () =>
        valid || rnd() < 0.5 ? pick(ids[resource] ?? ids.programs!) : pick(['00000000-0000-4000-8000-000000000000', 'not-a-uuid', '%00', '1'.repeat(200)]),
      );
      const query = new URLSearchParams();
      for (const p of op.parameters ?? []) {
        if (p.in !== 'query' || (!p.required && rnd() < 0.6)) continue;
        const v = p.name === 'cursor' && !valid && rnd() < 0.7 ? pick(forgedCursors) : valueFor(p.schema, valid, rnd);
        query.set(p.name, typeof v === 'string' ? v : JSON.stringify(v));
      }
      const headers: Record<string, string> = {};
      const who = rnd();
      if (who < 0.8) headers.authorization = `Bearer ${tokens.admin}`;
      else if (who < 0.88) headers.authorization = `Bearer ${tokens.sales}`;
      else if (who < 0.94) headers.authorization = `Bearer ${tokens.manager}`;
      else if (who < 0.97) headers.authorization = pick(['Bearer mdt_forged', 'Basic abc', 'Bearer ']);
      if (op.method === 'PATCH' && rnd() < 0.8) headers['if-match'] = pick(['"1"', '"2"', 'W/"1"', '*', 'garbage']);
      let payload: string | undefined;
      const json = op.requestBody?.content['application/json'];
      if (json || (op.method !== 'GET' && rnd() < 0.2)) {
        const kind = rnd();
        if (kind < 0.85 || valid) {
          headers['content-type'] = 'application/json';
          payload = JSON.stringify(valueFor(json?.schema, valid, rnd));
        } else if (kind < 0.93) {
          headers['content-type'] = 'application/json';
          payload = pick(['{', '{"a":', '[1,2', 'null', '"x"', '\u0000']);
        } else {
          headers['content-type'] = pick(['text/plain', 'application/xml', 'multipart/form-data']);
          payload = 'fuzz';
        }
      } else if (op.requestBody?.content['text/csv']) {
        headers['content-type'] = 'text/csv';
        payload = pick(['external_ref,customer_name\nF-1,x\n', 'garbage', '', 'external_ref,customer_name,sales_owner_email\nF-1,x\u0000y,a@example.jp\n']);
      }

      const qs = query.toString();
      const res = await t.app.inject({
        method: op.method as 'GET',
        url: `${url}${qs ? `?${qs}` : ''}`,
        headers,
        ...(payload !== undefined ? { payload } : {}),
      });
      const key = `${op.method} ${op.path}`;
      perOperation[key] = (perOperation[key] ?? 0) + 1;
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      const where = `${op.method} ${url}?${qs} → ${res.statusCode}`;
      const type = String(res.headers['content-type'] ?? '');
      if (res.statusCode >= 500) violations.push(`${where}: ${res.body.slice(0, 200)}`);
      if (res.statusCode >= 400 && !type.startsWith('application/problem+json')) violations.push(`${where}: error as ${type}`);
      const documented = op.responses[String(res.statusCode)];
      if (!documented) {
        violations.push(`${where}: status not in the contract`);
        continue;
      }
      const ctype = type.split(';')[0]!;
      const schema = documented.content?.[ctype]?.schema;
      if (schema && /json/.test(ctype)) {
        const validate = validatorOf(schema);
        if (!validate(res.json())) violations.push(`${where}: body does not match: ${ajv.errorsText(validate.errors)}`);
      }
    }

    console.log(`[fuzz] ${REQUESTS} requests over ${Object.keys(perOperation).length} operations, seed ${SEED}; statuses ${JSON.stringify(statuses)}`);
    expect(Object.keys(perOperation)).toHaveLength(operations.length);
    const distinct = [...new Set(violations.map((v) => v.replace(/[0-9a-f-]{36}/g, ':id').replace(/\?[^ ]*/, '')))];
    expect(distinct.slice(0, 30)).toEqual([]);
  }, 300_000);
});
