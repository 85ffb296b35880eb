import { z } from 'zod';
import { verdicts } from '../../db/schema/enums.ts';
import { Timestamp } from '../http/common-schemas.ts';
import { Page } from '../http/pagination.ts';

export const CheckSummary = z
  .object({
    id: z.number().int(),
    checkedAt: Timestamp,
    outcome: z.enum(['determined', 'error']).meta({ description: 'error: DNS did not answer well enough to judge; the verdict was kept' }),
    verdict: z.enum(verdicts).nullable(),
    mxState: z.string().nullable(),
    spfState: z.string().nullable(),
    durationMs: z.number().int(),
    resolver: z.string(),
    trigger: z.enum(['sweep', 'on_demand', 'cli']),
    verdictChanged: z.boolean(),
  })
  .meta({ id: 'CheckSummary' });

export const LatestCheck = CheckSummary.extend({
  result: z.record(z.string(), z.unknown()).meta({ description: 'The engine\u2019s full report: the same object as `cli check --json` (records, findings, fix guidance, impact, instructions)' }),
}).meta({ id: 'LatestCheck' });

export const CheckPage = Page(CheckSummary).meta({ id: 'CheckPage' });
export const CheckRequested = z.object({ jobId: z.string() }).meta({ id: 'CheckRequested' });
