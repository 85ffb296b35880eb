import { z } from 'zod';
import { verdicts } from '../../db/schema/enums.ts';
import { DnsName, Timestamp } from '../http/common-schemas.ts';

export const DomainSummary = z
  .object({
    id: z.uuid(),
    name: z.string().meta({ description: 'ASCII (punycode) form' }),
    displayName: z.string().meta({ description: 'Unicode form' }),
    latestVerdict: z.enum(verdicts).nullable().meta({ description: 'null until the first check' }),
    lastCheckedAt: Timestamp.nullable(),
    lastDeterminedAt: Timestamp.nullable(),
    mixedScriptLabels: z.array(z.string()).meta({
      description:
        'Labels of displayName that mix scripts no one writes together (UTS #39, e.g. a Cyrillic а among Latin letters): a possible look-alike; compare `name` (punycode)',
    }),
  })
  .meta({ id: 'DomainSummary' });

export const AddDomain = z.strictObject({ name: DnsName }).meta({ examples: [{ name: 'sample-shoji.co.jp' }, { name: 'サンプル.jp' }] });

export const NotFoundDismissal = z
  .object({
    at: Timestamp,
    by: z.string().meta({ description: 'Who dismissed it (the audit actor, e.g. token:tanaka)' }),
    reason: z.string(),
  })
  .meta({
    id: 'NotFoundDismissal',
    description: 'A manager\u2019s confirmation that the domain is expected not to exist; cleared when a later check finds it',
  });

export const Domain = DomainSummary.extend({
  customerId: z.uuid(),
  programId: z.uuid(),
  nextCheckAt: Timestamp,
  consecutiveFailures: z.number().int(),
  notFoundDismissal: NotFoundDismissal.nullable().meta({
    description: 'Set only while the verdict is domain_not_found and a manager or admin has dismissed it',
  }),
  archived: z
    .object({ at: Timestamp, by: z.string().meta({ description: 'Who deleted it (the audit actor)' }) })
    .nullable()
    .meta({
      description: 'Set when the domain was deleted: it is kept, with its checks and tasks, out of lists, readiness and sweeps until an admin restores it',
    }),
  createdAt: Timestamp,
}).meta({ id: 'Domain' });

export const DismissNotFound = z
  .strictObject({ reason: z.string().trim().min(1, { error: 'must not be blank: say why the domain is expected not to exist' }).max(2000) })
  .meta({ examples: [{ reason: '顧客がドメインを廃止済み（2022-06 に確認）' }, { reason: 'Domain retired by the customer in June' }] });
export type Domain = z.infer<typeof Domain>;
