import fs from 'node:fs';
import path from 'node:path';
import { validate } from '@readme/openapi-parser';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { generateOpenApiYaml } from '../src/openapi.ts';

const committedPath = path.resolve(import.meta.dirname, '..', 'openapi.yaml');

describe('openapi.yaml', () => {
  it('is current: regenerating it from the routes changes nothing (run `npm run openapi` after changing a route)', async () => {
    const generated = await generateOpenApiYaml();
    expect(fs.readFileSync(committedPath, 'utf8')).toBe(generated);
  });

  it('is a valid OpenAPI 3.1 document in which every /v1 operation needs a bearer token and answers problem+json', async () => {
    const document = parse(fs.readFileSync(committedPath, 'utf8'));
    expect(document.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(document));
    expect(result.valid, JSON.stringify('errors' in result ? result.errors : [])).toBe(true);
    for (const [route, methods] of Object.entries<Record<string, { security?: unknown; responses: Record<string, { content?: object }> }>>(document.paths)) {
      if (!route.startsWith('/v1/')) continue;
      for (const [method, op] of Object.entries(methods)) {
        expect(op.security, `${method} ${route}`).toEqual([{ bearerAuth: [] }]);
        expect(Object.keys(op.responses), `${method} ${route}`).toEqual(expect.arrayContaining(['401', '403']));
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) >= 400) expect(Object.keys(response.content ?? {}), `${method} ${route} ${status}`).toEqual(['application/problem+json']);
        }
      }
    }
  });
});
