import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { verdicts } from '../../db/schema/enums.ts';
import { CustomerQuery } from '../customers/customer-schemas.ts';
import { problem } from '../http/problems.ts';
import { IdParams, Timestamp } from '../http/common-schemas.ts';
import { sendCsv } from '../http/csv.ts';
import { PageQuery } from '../http/pagination.ts';
import { principalOf } from '../http/principal.ts';
import { customerCsvColumns, customerCsvRows } from './customer-export.ts';
import { DNS_RISK_POINTS, readiness, RISK_REASONS, type RiskReason } from './readiness-service.ts';
import { allPages, blastRadius } from './report-service.ts';

const BlastRadiusItem = z.object({
  domainId: z.uuid(),
  domain: z.string(),
  displayName: z.string(),
  dmarcPolicy: z.string().nullable().meta({ description: 'Effective DMARC policy; reject first' }),
  successorDkim: z
    .boolean()
    .nullable()
    .meta({
      description:
        'A successor DKIM key is published: aligned DKIM can still pass DMARC, so the impact is lower (listed after those without one ' +
        'of the same policy), but the SPF clean-up remains. null: not known (no check could tell, or the program names no successor selector)',
    }),
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
const BlastRadius = z.object({ total: z.number().int(), items: z.array(BlastRadiusItem), nextCursor: z.string().nullable() }).meta({ id: 'BlastRadius' });

const CsvOptions = z.object({ bom: z.stringbool().default(true).meta({ description: 'Start with a UTF-8 BOM (default) so Excel shows Japanese names' }) });
const csvResponse = {
  description: 'CSV, UTF-8; cells that would start a formula are prefixed with an apostrophe',
  content: { 'text/csv': { schema: z.string() } },
};

const Counts = z.record(z.string(), z.number().int());
const Phase = z.object({
  remaining: z.number().int(),
  perDay: z.number().nullable().meta({ description: 'Trailing 14-day pace; null when already done' }),
  projectedAt: z.string().nullable().meta({ description: 'Projected completion date; null when the pace is not positive' }),
  deadline: z.string(),
  onTime: z.boolean(),
});
const DomainsNotFound = z.number().int().meta({ description: 'Domains whose verdict is domain_not_found, not dismissed; the gate stays shut while any' });
const Group = { statusCounts: Counts, openTasks: z.number().int(), overdueTasks: z.number().int(), atRisk: z.number().int() };
const Readiness = z
  .object({
    asOf: Timestamp,
    today: z.string().meta({ description: 'The date in the program\u2019s time zone' }),
    daysToShutdown: z.number().int(),
    daysToSpfRecordDeletion: z.number().int().nullable(),
    customers: z.object({ total: z.number().int(), active: z.number().int(), statusCounts: Counts, migratedPercent: z.number(), completedPercent: z.number() }),
    domains: z.object({
      total: z.number().int(),
      byVerdict: Counts,
      blastRadius: z.number().int().meta({ description: 'Domains whose SPF would permerror once the legacy record is deleted' }),
      mxOnLegacy: z.number().int(),
      notVerifiedIn48h: z.number().int(),
      unverified: z.number().int().meta({ description: 'Never checked, or DNS never answered: these could hide a breakage' }),
      notFound: z.number().int().meta({ description: 'Verdict domain_not_found, not dismissed: these hold both gates shut' }),
      notFoundDismissed: z.number().int().meta({ description: 'Verdict domain_not_found, dismissed by a manager or admin with a reason' }),
    }),
    byDepartment: z.array(z.object({ department: z.string(), ...Group })),
    bySalesOwner: z.array(z.object({ salesOwnerId: z.uuid(), name: z.string(), department: z.string(), ...Group })),
    atRiskCustomers: z
      .array(
        z.object({
          customerId: z.uuid(),
          name: z.string(),
          externalRef: z.string(),
          status: z.string(),
          salesOwner: z.string(),
          plannedMigrationAt: z.string().nullable(),
          risk: z
            .number()
            .int()
            .meta({
              description: `Higher is worse: a point per day short of what its status needs before the shutdown and per day past its planned date, plus for its worst domain ${Object.entries(
                DNS_RISK_POINTS,
              )
                .map(([impact, points]) => `${impact} ${points}`)
                .join(', ')}`,
            }),
          reasons: z.array(z.string()).meta({ description: 'Why, in English with the figures; the same order as reasonCodes' }),
          reasonCodes: z.array(z.enum(Object.keys(RISK_REASONS) as [RiskReason, ...RiskReason[]])).meta({
            description: `Why, as codes (for translation): ${Object.entries(RISK_REASONS)
              .map(([code, meaning]) => `${code}: ${meaning}`)
              .join('; ')}`,
          }),
        }),
      )
      .meta({
        description:
          'Customers not final with a deadline reason, mail rejected or quarantined at the deletion, or MX on the legacy service while migrated; the worst 100 (every one is counted in atRisk)',
      }),
    burndown: z.array(z.object({ day: z.string(), customersNotMigrated: z.number().int(), domainsNotClean: z.number().int() })),
    projection: z.object({ migration: Phase, spfCleanup: Phase }),
    gates: z.object({
      mxCutoverReady: z.object({ ready: z.boolean(), mxOnLegacy: z.number().int(), unverified: z.number().int(), domainsNotFound: DomainsNotFound }),
      spfRecordDeletionSafe: z.object({
        safe: z.boolean(),
        blastRadius: z.number().int(),
        unverified: z.number().int(),
        domainsNotFound: DomainsNotFound,
        evidenceAsOf: Timestamp.nullable(),
      }),
    }),
  })
  .meta({ id: 'Readiness' });

export const reportRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/programs/:id/readiness', {
    config: { access: 'any' },
    schema: {
      tags: ['reports'],
      summary: 'Who is not ready, and can the legacy SPF record be deleted today? (a sales token sees its own numbers)',
      params: IdParams,
      response: { 200: Readiness, 400: problem('Invalid id'), 404: problem('No such program') },
    },
    handler: async (request) => readiness(app.db, request.params.id, principalOf(request), app.now()),
  });

  app.get('/programs/:id/readiness.csv', {
    config: { access: 'any' },
    schema: {
      tags: ['reports'],
      summary: 'Readiness per sales owner as CSV',
      params: IdParams,
      querystring: CsvOptions,
      response: { 200: csvResponse, 400: problem('Invalid id or query'), 404: problem('No such program') },
    },
    handler: async (request, reply) => {
      const report = await readiness(app.db, request.params.id, principalOf(request), app.now());
      return sendCsv(
        reply,
        'readiness.csv',
        ['department', 'sales_owner', ...Object.keys(report.customers.statusCounts), 'open_tasks', 'overdue_tasks', 'at_risk'],
        (async function* () {
          for (const o of report.bySalesOwner) yield [o.department, o.name, ...Object.values(o.statusCounts), o.openTasks, o.overdueTasks, o.atRisk];
        })(),
        request.query,
      );
    },
  });

  app.get('/programs/:id/blast-radius', {
    config: { access: 'any' },
    schema: {
      tags: ['reports'],
      summary: 'Domains that would break if the legacy SPF record were deleted now, by impact: DMARC reject without a successor DKIM key first',
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
        [
          'domain',
          'dmarc_policy',
          'customer',
          'external_ref',
          'customer_status',
          'sales_owner',
          'department',
          'suggested_record',
          'last_verified_at',
          'successor_dkim_key',
        ],
        (async function* () {
          for await (const r of rows) {
            const dkim = r.successorDkim === null ? 'unknown' : r.successorDkim ? 'published' : 'none';
            yield [
              r.displayName,
              r.dmarcPolicy ?? 'no DMARC',
              r.customerName,
              r.externalRef,
              r.customerStatus,
              r.salesOwnerName,
              r.department,
              r.suggestedRecord,
              r.lastDeterminedAt,
              dkim,
            ];
          }
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
      description:
        'One row per customer the token may see. `contact_name` and `contact_email` are the customer\u2019s technical contact (one with an email ' +
        'first, then the oldest). A contact\u2019s email is personal data: `contact_email` is filled for an admin token only, and empty for others.',
      querystring: CustomerQuery.omit({ limit: true, cursor: true }).extend(CsvOptions.shape),
      response: { 200: csvResponse, 400: problem('Invalid query') },
    },
    handler: async (request, reply) =>
      sendCsv(reply, 'customers.csv', customerCsvColumns, customerCsvRows(app.db, request.query, principalOf(request)), request.query),
  });
};
