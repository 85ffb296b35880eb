import { z } from 'zod';
import { customerStatuses, verdicts } from '../../db/schema/enums.ts';
import { DnsName, IsoDate, QueryList, Timestamp } from '../http/common-schemas.ts';
import { Page, PageQuery } from '../http/pagination.ts';
import { DomainSummary } from '../domains/domain-schemas.ts';
import { invisibleCharacterIn, normalizeReference } from '../lib/lookalikes.ts';

export const CustomerStatus = z.enum(customerStatuses);
const initialStatuses = customerStatuses.filter((s) => s !== 'on_hold' && s !== 'completed');

export const Customer = z
  .object({
    id: z.uuid(),
    programId: z.uuid(),
    externalRef: z.string().meta({ description: 'Legacy contract id, unique per program' }),
    name: z.string(),
    salesOwnerId: z.uuid(),
    status: CustomerStatus,
    statusBeforeHold: CustomerStatus.nullable().meta({ description: 'Where an on_hold customer returns to' }),
    plannedMigrationAt: z.string().nullable(),
    successorAccountRef: z.string().nullable(),
    notes: z.string().nullable(),
    version: z.number().int().meta({ description: 'Also sent as the ETag' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    domains: z.array(DomainSummary),
  })
  .meta({
    id: 'Customer',
    examples: [
      {
        id: '3f0c2a8e-5b7d-4c1e-9a2b-6d8e0f1a2b3c',
        programId: '0b6f3f7e-8c1a-4f43-9a51-6a2f3d1c9e10',
        externalRef: 'IIJ-000123',
        name: '株式会社サンプル商事',
        salesOwnerId: '5b0a5c0e-1f4e-4d55-9a52-0c2c6c1b9f10',
        status: 'planned',
        statusBeforeHold: null,
        plannedMigrationAt: '2022-07-15',
        successorAccountRef: null,
        notes: '7/15 に切替と合意',
        version: 5,
        createdAt: '2022-04-01T00:00:00.000Z',
        updatedAt: '2022-06-01T09:30:00.000Z',
        domains: [
          {
            id: '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
            name: 'sample-shoji.co.jp',
            displayName: 'sample-shoji.co.jp',
            latestVerdict: 'needs_spf_cleanup',
            lastCheckedAt: '2022-06-01T09:30:00.000Z',
            lastDeterminedAt: '2022-06-01T09:30:00.000Z',
          },
        ],
      },
    ],
  });
export type Customer = z.infer<typeof Customer>;

const Text = (max: number) => z.string().trim().min(1).max(max);

/**
 * A customer's legacy contract id: refused with an invisible character in it, and stored in one
 * spelling (NFKC: `ＺＷ-1` is `ZW-1`), so look-alikes cannot become customers apart (src/lib/lookalikes.ts).
 */
const ExternalRef = z
  .string()
  .superRefine((value, ctx) => {
    const why = invisibleCharacterIn(value);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  })
  .overwrite(normalizeReference)
  .pipe(Text(200));

export const CreateCustomer = z
  .strictObject({
    programId: z.uuid(),
    externalRef: ExternalRef,
    name: Text(300),
    salesOwnerId: z.uuid(),
    status: z.enum(initialStatuses).default('not_contacted').meta({ description: 'Initial status (later changes go through /transitions)' }),
    plannedMigrationAt: IsoDate.nullable().optional(),
    successorAccountRef: Text(200).nullable().optional(),
    notes: z.string().max(10_000).nullable().optional(),
    domains: z.array(DnsName).max(100).default([]),
  })
  .meta({
    examples: [
      {
        programId: '0b6f3f7e-8c1a-4f43-9a51-6a2f3d1c9e10',
        externalRef: 'IIJ-000123',
        name: '株式会社サンプル商事',
        salesOwnerId: '5b0a5c0e-1f4e-4d55-9a52-0c2c6c1b9f10',
        plannedMigrationAt: '2022-06-30',
        domains: ['sample-shoji.co.jp'],
      },
    ],
  });
export type CreateCustomer = z.infer<typeof CreateCustomer>;

export const PatchCustomer = z
  .strictObject({
    name: Text(300),
    plannedMigrationAt: IsoDate.nullable(),
    successorAccountRef: Text(200).nullable(),
    notes: z.string().max(10_000).nullable(),
  })
  .partial()
  .meta({ examples: [{ plannedMigrationAt: '2022-07-15', notes: '7月の連休明けに切替予定' }] });
export type PatchCustomer = z.infer<typeof PatchCustomer>;

export const Transition = z
  .strictObject({
    to: CustomerStatus,
    note: z.string().trim().max(2000).optional(),
    overrideReason: z
      .string()
      .trim()
      .min(1)
      .max(2000)
      .optional()
      .meta({ description: 'Needed to complete a customer whose DNS is not clean (manager/admin) or to reopen a final one (admin)' }),
  })
  .meta({
    examples: [
      { to: 'planned', note: 'Cut-over agreed for 2022-07-15' },
      { to: 'completed', overrideReason: 'Domain retired by the customer' },
    ],
  });
export type Transition = z.infer<typeof Transition>;

export const Reassign = z
  .strictObject({
    salesOwnerId: z.uuid(),
    moveOpenTasks: z.boolean().default(true),
  })
  .meta({ examples: [{ salesOwnerId: '5b0a5c0e-1f4e-4d55-9a52-0c2c6c1b9f10', moveOpenTasks: true }] });

const sortKeys = ['name', 'status', 'updatedAt', 'plannedMigrationAt'] as const;
export const CustomerSort = z
  .enum([...sortKeys, ...sortKeys.map((k) => `-${k}` as const)])
  .default('name')
  .meta({ description: 'Sort key; a leading - sorts descending. Customers without a planned date sort last ascending.' });
export type CustomerSort = z.infer<typeof CustomerSort>;

export const CustomerQuery = PageQuery.extend({
  programId: z.uuid().optional(),
  status: QueryList(CustomerStatus, customerStatuses.length).optional().meta({ description: 'One or more statuses, comma-separated or repeated' }),
  salesOwnerId: z.uuid().optional(),
  department: z.string().max(100).optional(),
  verdict: QueryList(z.enum([...verdicts, 'unchecked']), verdicts.length + 1)
    .optional()
    .meta({
      description: `One or more of ${verdicts.join(', ')}, unchecked (never determined), comma-separated or repeated: customers with at least one domain of any of them`,
    }),
  q: z.string().trim().min(1).max(200).optional().meta({ description: 'Prefix of the name, the external ref or a domain' }),
  sort: CustomerSort,
});
export type CustomerQuery = z.infer<typeof CustomerQuery>;
export const CustomerPage = Page(Customer).meta({ id: 'CustomerPage' });

export const HistoryEntry = z
  .object({
    kind: z.enum(['status', 'audit']),
    at: Timestamp,
    actor: z.string(),
    from: CustomerStatus.nullable().optional(),
    to: CustomerStatus.optional(),
    note: z.string().nullable().optional(),
    overrideReason: z.string().nullable().optional(),
    action: z.string().optional(),
    before: z.unknown().optional(),
    after: z.unknown().optional(),
  })
  .meta({
    id: 'HistoryEntry',
    examples: [
      {
        kind: 'status',
        at: '2022-06-01T09:30:00.000Z',
        actor: 'token:suzuki',
        from: 'contacted',
        to: 'planned',
        note: '7/15 に切替と合意',
        overrideReason: null,
      },
      {
        kind: 'audit',
        at: '2022-06-01T09:31:00.000Z',
        actor: 'token:suzuki',
        action: 'customer.update',
        before: { plannedMigrationAt: null },
        after: { plannedMigrationAt: '2022-07-15' },
      },
    ],
  });
export const HistoryPage = Page(HistoryEntry).meta({ id: 'HistoryPage' });
