import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, Problem, problem, sendProblem, toProblem } from '../errors.ts';
import { IdParams } from '../http/common-schemas.ts';
import { actorOf } from '../plugins/auth.ts';
import { importColumns, importCustomers } from './import-service.ts';

const ImportError = z.object({
  line: z.number().int().meta({ description: '1-based line in the file; the header is line 1' }),
  column: z.enum(importColumns).nullable(),
  message: z.string(),
});

export const ImportResult = z
  .object({
    created: z.number().int(),
    updated: z.number().int(),
    unchanged: z.number().int(),
    ownersCreated: z.number().int(),
    ownersUpdated: z.number().int(),
    domainsAdded: z.number().int(),
    errors: z.array(ImportError),
    conflicts: z
      .array(z.object({ line: z.number().int(), externalRef: z.string(), message: z.string() }))
      .meta({ description: 'Rows not written because the customer (or a domain) changed while the import ran; the change made meanwhile stands. Import again to apply them.' }),
    dryRun: z.boolean(),
    written: z.boolean(),
  })
  .meta({
    id: 'ImportResult',
    examples: [{ created: 5, updated: 1, unchanged: 0, ownersCreated: 2, ownersUpdated: 0, domainsAdded: 8, errors: [], conflicts: [], dryRun: false, written: true }],
  });

const encodings: Record<string, 'auto' | 'utf-8' | 'shift_jis'> = {
  auto: 'auto',
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  shift_jis: 'shift_jis',
  sjis: 'shift_jis',
  cp932: 'shift_jis',
  'windows-31j': 'shift_jis',
};

const ImportQuery = z.object({
  dryRun: z.stringbool().default(false).meta({ description: 'Report what would happen; write nothing' }),
  allOrNothing: z.stringbool().default(true).meta({ description: 'true: any error and nothing is written (422). false: write the valid rows' }),
  encoding: z
    .string()
    .toLowerCase()
    .default('auto')
    .refine((e) => e in encodings, { message: `one of ${Object.keys(encodings).join(', ')}` })
    .transform((e) => encodings[e]!)
    .meta({ description: 'auto detects a UTF-8 BOM, valid UTF-8, else Shift_JIS (CP932, what Japanese Excel writes)' }),
});

const CSV_EXAMPLE =
  'external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department,status,planned_migration_at\n' +
  'IIJ-000123,株式会社サンプル商事,sample-shoji.co.jp;sample.jp,suzuki@example.co.jp,鈴木 一郎,法人営業1部,contacted,2022/06/30\n';

export const importRoutes: FastifyPluginAsyncZod = async (app) => {
  // The body stays a stream: it is decoded and parsed as it arrives.
  app.addContentTypeParser(['text/csv', 'application/csv'], (_request, payload, done) => done(null, payload));

  app.post('/programs/:id/imports', {
    config: { access: 'admin' },
    // Validate params and query with zod; the CSV body is checked row by row by the importer.
    validatorCompiler: (route) =>
      route.httpPart === 'body' ? (data: unknown) => ({ value: data }) : validatorCompiler(route as unknown as Parameters<typeof validatorCompiler>[0]),
    schema: {
      tags: ['imports'],
      summary: 'Import the legacy customer list (CSV, UTF-8 or Shift_JIS): upsert by external_ref, owners by email',
      description:
        'Columns (header row required, any order): ' + importColumns.join(', ') +
        '. `domains` are separated by spaces or `;`. Empty cells leave an existing customer\u2019s value alone; domains are added, never removed. ' +
        'A changed status must be a legal workflow move. By default any error writes nothing and answers 422 listing every error by line and column.',
      consumes: ['text/csv'],
      params: IdParams,
      querystring: ImportQuery,
      body: z.string().meta({ description: 'The CSV file', examples: [CSV_EXAMPLE] }),
      response: {
        200: ImportResult,
        400: problem('Invalid query'),
        404: problem('No such program'),
        409: problem('Another import into this program is running'),
        413: problem('The file is larger than IMPORT_MAX_BYTES'),
        415: problem('The body is not text/csv'),
        422: {
          description: 'The file has errors and nothing was written; `errors` lists each by line and column, the counts say what would have happened',
          content: { 'application/problem+json': { schema: Problem.extend({ import: ImportResult }) } },
        },
      },
    },
    handler: async (request, reply) => {
      const body = request.body as unknown;
      if (!body || typeof (body as AsyncIterable<Buffer>)[Symbol.asyncIterator] !== 'function') {
        throw new AppError('APP_UNSUPPORTED_MEDIA_TYPE', 415, 'Send the file as text/csv');
      }
      const result = await importCustomers(
        app.db,
        request.params.id,
        body as AsyncIterable<Buffer>,
        { ...request.query, maxBytes: app.config.IMPORT_MAX_BYTES },
        actorOf(request),
        app.now(),
      );
      if (result.errors.length > 0 && !result.written && !result.dryRun) {
        const err = new AppError('APP_IMPORT_INVALID', 422, `The file has ${result.errors.length} error(s); nothing was written`, {
          errors: result.errors.map((e) => ({ path: `line ${e.line}${e.column ? `, column ${e.column}` : ''}`, message: e.message })),
          import: result,
        });
        return sendProblem(reply, toProblem(err, request, 0));
      }
      return result;
    },
  });
};
