import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, FieldError } from '../errors.ts';
import { Problem, problem, sendProblem, toProblem } from '../http/problems.ts';
import { IdParams } from '../http/common-schemas.ts';
import { actorOf } from '../http/principal.ts';
import { importStates } from '../../db/schema/imports.ts';
import { importColumns, ImportResult, ImportSummary, LISTED } from './import-schemas.ts';
import { getImport, queueImport, receiveImport, runOrFail, storedResult, type ImportRecord } from './import-service.ts';

const Import = z
  .object({
    id: z.uuid(),
    programId: z.uuid(),
    state: z.enum(importStates).meta({ description: 'receiving → queued → running → done (see `result`) or failed (see `failure`)' }),
    dryRun: z.boolean(),
    allOrNothing: z.boolean(),
    progress: z.object({
      bytesReceived: z.number().int(),
      rowsRead: z.number().int(),
      rowsPlanned: z.number().int(),
      rowsWritten: z.number().int().meta({ description: 'Rows written in the import\u2019s transaction; committed together when it is done' }),
    }),
    result: ImportResult.nullable(),
    failure: z.string().nullable(),
    createdAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'Import' });

const toImport = (r: ImportRecord): z.infer<typeof Import> => ({
  id: r.id,
  programId: r.programId,
  state: r.state,
  dryRun: r.dryRun,
  allOrNothing: r.allOrNothing,
  progress: { bytesReceived: r.bytesReceived, rowsRead: r.rowsRead, rowsPlanned: r.rowsPlanned, rowsWritten: r.rowsWritten },
  result: r.result ? storedResult(r.result) : null,
  failure: r.failure,
  createdAt: r.createdAt.toISOString(),
  startedAt: r.startedAt?.toISOString() ?? null,
  finishedAt: r.finishedAt?.toISOString() ?? null,
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
  'external_ref,customer_name,domains,sales_owner_email,sales_owner_name,department,status,planned_migration_at,contact_name,contact_email,contact_language\n' +
  'IIJ-000123,株式会社サンプル商事,sample-shoji.co.jp;sample.jp,suzuki@example.co.jp,鈴木 一郎,法人営業1部,contacted,2022/06/30,山田 太郎,yamada@sample-shoji.co.jp,ja\n';

export const importRoutes: FastifyPluginAsyncZod = async (app) => {
  // The body stays a stream: it is stored as it arrives, and parsed from the database afterwards.
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
        'Columns (header row required, any order): ' +
        importColumns.join(', ') +
        '. `domains` are separated by spaces or `;`. Owners are upserted by email (a new one needs sales_owner_name and department); ' +
        '`manager_email` sets the owner\u2019s manager: an existing active sales owner, or one created by an earlier line (else an error of that line). ' +
        '`contact_name`, `contact_email`, `contact_language` (ja or en, default ja) give the customer a technical contact, added unless it has a contact ' +
        'with that email already (case-insensitive; an existing contact is never changed or removed); a contact needs both a name and an email. ' +
        'Empty cells leave an existing customer\u2019s or owner\u2019s value alone; domains are added, never removed. ' +
        'A changed status must be a legal workflow move. By default any error writes nothing and answers 422 listing the errors by line and column ' +
        `(the first ${LISTED}; all are counted). A file over IMPORT_INLINE_BYTES answers 202 and runs as a job: follow \`Location\`.`,
      consumes: ['text/csv'],
      params: IdParams,
      querystring: ImportQuery,
      body: z.string().meta({ description: 'The CSV file', examples: [CSV_EXAMPLE] }),
      response: {
        200: ImportResult,
        202: Import.describe('A file over IMPORT_INLINE_BYTES: the import runs as a job; follow `Location` (GET /v1/imports/{id})'),
        400: problem('Invalid query'),
        404: problem('No such program'),
        409: problem('Another import into this program has not finished (`runningImport` names it)'),
        413: problem('The file is larger than IMPORT_MAX_BYTES'),
        415: problem('The body is not text/csv'),
        422: {
          description: `The file has errors and nothing was written: \`errors\` lists the first ${LISTED} by line and column, \`import\` counts them all and says what would have happened`,
          content: {
            'application/problem+json': {
              schema: Problem.extend({
                errors: z.array(FieldError.extend({ line: z.number().int(), column: z.enum(importColumns).nullable() })),
                import: ImportSummary,
              }),
            },
          },
        },
      },
    },
    handler: async (request, reply) => {
      const body = request.body as unknown;
      if (!body || typeof (body as AsyncIterable<Buffer>)[Symbol.asyncIterator] !== 'function') {
        throw errors.unsupportedMediaType('Send the file as text/csv');
      }
      const options = { ...request.query, maxBytes: app.config.IMPORT_MAX_BYTES };
      const received = await receiveImport(app.db, request.params.id, body as AsyncIterable<Buffer>, options, actorOf(request), app.now());
      const location = `/v1/imports/${received.id}`;
      if (received.bytesReceived > app.config.IMPORT_INLINE_BYTES) {
        return reply
          .code(202)
          .header('location', location)
          .send(toImport(await queueImport(app.db, received.id, app.now())));
      }
      const result = await runOrFail(app.db, received.id, app.now());
      reply.header('content-location', location);
      if (result.errorCount > 0 && !result.written && !result.dryRun) {
        const { errors: listed, ...summary } = result;
        const err = errors.importInvalid(result.errorCount, {
          errors: listed.map((e) => ({ path: `line ${e.line}${e.column ? `, column ${e.column}` : ''}`, message: e.message, line: e.line, column: e.column })),
          import: summary,
        });
        return sendProblem(reply, toProblem(err, request, 0));
      }
      return result;
    },
  });

  app.get('/imports/:id', {
    config: { access: 'admin' },
    schema: {
      tags: ['imports'],
      summary: 'An import: its state, progress (rows read, planned, written) and, once done, its result',
      params: IdParams,
      response: { 200: Import, 404: problem('No such import') },
    },
    handler: async (request) => toImport(await getImport(app.db, request.params.id)),
  });
};
