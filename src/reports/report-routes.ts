import { inArray } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { salesOwners } from '../../db/schema/index.ts';
import { verdicts } from '../../db/schema/enums.ts';
import { CustomerQuery } from '../customers/customer-schemas.ts';
import { listCustomers } from '../customers/customer-service.ts';
import { problem } from '../errors.ts';
import { IdParams, Timestamp } from '../http/common-schemas.ts';
import { sendCsv } from '../http/csv.ts';
import { PageQuery } from '../http/pagination.ts';
import { principalOf } from '../plugins/auth.ts';
import { allPages, blastRadius } from './report-service.ts';

const BlastRadiusItem = z.object({
  domainId: z.uuid(),
  domain: z.string(),
  displayName: z.string(),
  dmarcPolicy: z.string().nullable().meta({ description: 'Effective DMARC policy; reject first' }),
  latestVerdict: z.enum(verdicts).nullable(),
  lastDeterminedAt: Timestamp.nullable(),
  customerId: z.uuid(),
  customerName: z.string(),
  externalRef: z.string(),
  customerStatus: z.string(),
  salesOwnerId: z.uuid(),
  salesOwnerName: z.string(),
  department: z.string(),
  suggestedRecord: z.string().nullable(),
});
const BlastRadius = z
  .object({ total: z.number().int(), items: z.array(BlastRadiusItem), nextCursor: z.string().nullable() })
  .meta({ id: 'BlastRadius' });

const CsvOptions = z.object({ bom: z.stringbool().default(true).meta({ description: 'Start with a UTF-8 BOM (default) so Excel shows Japanese names' }) });
const csvResponse = { description: 'CSV, UTF-8; cells that would start a formula are prefixed with an apostrophe', content: { 'text/csv': { schema: z.string() } } };

export const reportRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/programs/:id/blast-radius', {
    config: { access: 'any' },
    schema: {
      tags: ['reports'],
      summary: 'Domains that would break if the legacy SPF record were deleted now, DMARC reject first',
      params: IdParams,
      querystring: PageQuery,
      response: { 200: BlastRadius, 400: problem('Invalid id or query'), 404: problem('No such program') },
    },
    handler: async (request) => blastRadius(app.db, request.params.id, principalOf(request), request.query.limit, request.query.cursor),
  });

  app.get('/programs/:id/blast-radius.csv', {
    config: { access: 'any' },
    schema: {
      tags: ['reports'],
      summary: 'The blast radius as CSV',
      params: IdParams,
      querystring: CsvOptions,
      response: { 200: csvResponse, 400: problem('Invalid id or query'), 404: problem('No such program') },
    },
    handler: async (request, reply) => {
      const viewer = principalOf(request);
      const first = await blastRadius(app.db, request.params.id, viewer, 200);
      const rows = allPages((cursor) => (cursor ? blastRadius(app.db, request.params.id, viewer, 200, cursor) : Promise.resolve(first)));
      return sendCsv(
        reply,
        'blast-radius.csv',
        ['domain', 'dmarc_policy', 'customer', 'external_ref', 'customer_status', 'sales_owner', 'department', 'suggested_record', 'last_verified_at'],
        (async function* () {
          for await (const r of rows) yield [r.displayName, r.dmarcPolicy ?? 'no DMARC', r.customerName, r.externalRef, r.customerStatus, r.salesOwnerName, r.department, r.suggestedRecord, r.lastDeterminedAt];
        })(),
        request.query,
      );
    },
  });

  app.get('/customers.csv', {
    config: { access: 'any' },
    schema: {
      tags: ['reports'],
      summary: 'Customers as CSV, with every list filter of GET /v1/customers',
      querystring: CustomerQuery.omit({ limit: true, cursor: true }).extend(CsvOptions.shape),
      response: { 200: csvResponse, 400: problem('Invalid query') },
    },
    handler: async (request, reply) => {
      const viewer = principalOf(request);
      const query = { ...request.query, limit: 200 };
      const pages = allPages((cursor) => listCustomers(app.db, { ...query, cursor }, viewer));
      const ownerNames = new Map<string, { name: string; department: string }>();
      return sendCsv(
        reply,
        'customers.csv',
        ['external_ref', 'customer_name', 'status', 'planned_migration_at', 'sales_owner', 'department', 'domains', 'verdicts', 'updated_at'],
        (async function* () {
          for await (const c of pages) {
            if (!ownerNames.has(c.salesOwnerId)) {
              const owners = await app.db.select().from(salesOwners).where(inArray(salesOwners.id, [c.salesOwnerId]));
              for (const o of owners) ownerNames.set(o.id, { name: o.name, department: o.department });
            }
            const owner = ownerNames.get(c.salesOwnerId);
            yield [
              c.externalRef,
              c.name,
              c.status,
              c.plannedMigrationAt,
              owner?.name,
              owner?.department,
              c.domains.map((d) => d.displayName).join(' '),
              c.domains.map((d) => d.latestVerdict ?? 'unchecked').join(' '),
              c.updatedAt,
            ];
          }
        })(),
        request.query,
      );
    },
  });
};
