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
  result: z
    .record(z.string(), z.unknown())
    .meta({ description: 'The engine\u2019s full report: the same object as `cli check --json` (records, findings, fix guidance, impact, instructions)' }),
}).meta({ id: 'LatestCheck' });

export const CheckPage = Page(CheckSummary).meta({ id: 'CheckPage' });
export const CheckRequested = z.object({ jobId: z.string() }).meta({ id: 'CheckRequested' });

const spfResults = ['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'] as const;
/** Printable, no spaces: what an SMTP envelope can carry (and no NUL or control characters). */
const envelopeText = /^[^\s\p{Cc}]+$/u;

export const SpfTestQuery = z.object({
  ip: z
    .union([z.ipv4(), z.ipv6()], { error: 'expected an IPv4 or IPv6 address' })
    .meta({ description: 'The sending server\u2019s address', example: '203.0.113.25' }),
  sender: z
    .string()
    .max(320)
    .regex(envelopeText, { error: 'expected an address without spaces or control characters' })
    .regex(/^(?:[^@]+@)?[^@]+$/, { error: 'expected local@domain (or a domain)' })
    .optional()
    .meta({ description: 'MAIL FROM; default postmaster@<domain>' }),
  helo: z
    .string()
    .max(253)
    .regex(envelopeText, { error: 'expected a name without spaces or control characters' })
    .optional()
    .meta({ description: 'HELO name; default the domain' }),
});

const SpfEvaluation = z.object({
  result: z.enum(spfResults),
  reason: z.string(),
  explanation: z.string().optional(),
  lookups: z.number().int(),
  voidLookups: z.number().int(),
  terms: z
    .array(
      z.object({
        path: z.array(z.string()).meta({ description: 'The records from the domain down to the one holding the term' }),
        term: z.string(),
        target: z.string().optional(),
        outcome: z.enum(['match', 'no match', 'followed', 'error']),
        detail: z.string().optional(),
      }),
    )
    .meta({ description: 'Every term evaluated, in order' }),
});

export const SpfTestAnswer = z
  .object({
    domain: z.string(),
    ip: z.string(),
    sender: z.string(),
    helo: z.string(),
    today: SpfEvaluation,
    afterDeletion: SpfEvaluation.meta({ description: 'The same client once every legacy SPF name (and every CNAME ending there) is gone' }),
  })
  .meta({ id: 'SpfTestAnswer' });
