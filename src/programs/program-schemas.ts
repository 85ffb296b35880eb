import { z } from 'zod';
import { DnsNameList, IsoDate, Timestamp, TimeZone } from '../http/common-schemas.ts';
import { Page } from '../http/pagination.ts';
import { excerpt } from '../lib/storable-text.ts';
import { normalizeDkimSelector } from './dkim-selector.ts';

export const DEFAULT_REMINDER_OFFSETS_DAYS = [-365, -180, -90, -60, -30, -14, -7, -1];

const ServiceName = z.string().trim().min(1).max(200);

/** Reminder offsets in days relative to the shutdown date (negative = before); stored sorted, unique. */
const ReminderOffsets = z
  .array(z.number().int().min(-3650).max(0))
  .max(50)
  .transform((days) => [...new Set(days)].sort((a, b) => a - b))
  .meta({ description: 'Days before the shutdown (negative numbers) on which reminders fall due', example: DEFAULT_REMINDER_OFFSETS_DAYS });

const DkimSelector = z
  .string()
  .max(253)
  .transform((value, ctx) => {
    const result = normalizeDkimSelector(value);
    if (result.ok) return result.ascii;
    ctx.issues.push({ code: 'custom', input: value, message: `"${excerpt(value, 60)}" ${result.reason}` });
    return z.NEVER;
  });

const identifierFields = {
  mxHostSuffixes: DnsNameList.meta({ description: 'An MX host is on this side when it equals a suffix or ends with "." + suffix' }),
  spfIncludes: DnsNameList.meta({ description: 'SPF include domains of this side' }),
  dkimSelectors: z
    .array(DkimSelector)
    .max(50)
    .transform((selectors) => [...new Set(selectors)])
    .meta({ description: 'DKIM selectors this side signs customers\u2019 mail with; each check looks up <selector>._domainkey.<domain>', example: ['s1'] }),
  dkimTargets: DnsNameList.meta({
    description: 'DNS zones this side\u2019s selector CNAMEs point into (a CNAME target at or under one belongs to this side)',
    example: ['dkim.po.2iij.net'],
  }),
};
const IdentifiersInput = z.strictObject({
  mxHostSuffixes: identifierFields.mxHostSuffixes.default([]),
  spfIncludes: identifierFields.spfIncludes.default([]),
  dkimSelectors: identifierFields.dkimSelectors.default([]),
  dkimTargets: identifierFields.dkimTargets.default([]),
});
/** Without defaults: zod's .partial() keeps a field's default, so a PATCH of one list would empty the others. */
const IdentifiersPatch = z.strictObject(identifierFields).partial();

const Hours = z
  .number()
  .int()
  .min(1)
  .max(24 * 365);
const CadenceFields = {
  actionHours: Hours.meta({ description: 'Domains needing action: every N hours (default 6)' }),
  cleanHours: Hours.meta({ description: 'Clean domains: every N hours (default 24)' }),
  completedHours: Hours.meta({ description: 'Domains of completed customers (regression watch): every N hours (default 168)' }),
  urgentWindowDays: z.number().int().min(0).max(365).meta({ description: 'Days before the shutdown and the SPF-record deletion in which… (default 14)' }),
  urgentIntervalHours: Hours.meta({ description: '…domains needing action are checked every N hours (default 1)' }),
};
export const CADENCE_DEFAULTS = { actionHours: 6, cleanHours: 24, completedHours: 168, urgentWindowDays: 14, urgentIntervalHours: 1 };
const CadenceInput = z.strictObject(CadenceFields).partial();
export const CheckCadence = z.object(CadenceFields);

export const Identifiers = z.object({
  mxHostSuffixes: z.array(z.string()),
  spfIncludes: z.array(z.string()),
  dkimSelectors: z.array(z.string()),
  dkimTargets: z.array(z.string()),
});

const example = {
  name: 'Corporate mail hosting shutdown',
  legacyService: 'Legacy mail hosting',
  successorService: 'Secure MX gateway',
  shutdownAt: '2022-09-30',
  spfRecordDeletionAt: '2023-03-31',
  timezone: 'Asia/Tokyo',
  legacy: { mxHostSuffixes: ['po.2iij.net'], spfIncludes: ['spf.po.2iij.net'], dkimSelectors: ['s1'], dkimTargets: ['dkim.po.2iij.net'] },
  successor: { mxHostSuffixes: ['mx.gateway.example'], spfIncludes: ['spf.gateway.example'], dkimSelectors: ['gw1'], dkimTargets: ['dkim.gateway.example'] },
  reminderOffsetsDays: DEFAULT_REMINDER_OFFSETS_DAYS,
};

export const CreateProgram = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    legacyService: ServiceName,
    successorService: ServiceName,
    shutdownAt: IsoDate,
    spfRecordDeletionAt: IsoDate.nullable().optional().meta({ description: 'When the legacy SPF record is deleted; after shutdownAt' }),
    timezone: TimeZone.default('Asia/Tokyo'),
    legacy: IdentifiersInput,
    successor: IdentifiersInput.default({ mxHostSuffixes: [], spfIncludes: [], dkimSelectors: [], dkimTargets: [] }),
    reminderOffsetsDays: ReminderOffsets.default(DEFAULT_REMINDER_OFFSETS_DAYS),
    checkCadence: CadenceInput.default({}).meta({ description: 'DNS re-check cadence; omitted fields take the defaults' }),
    autoProgress: z.boolean().default(true).meta({ description: 'Move customers to migrated/completed from DNS evidence' }),
    escalateAfterDays: z
      .number()
      .int()
      .min(0)
      .max(365)
      .default(3)
      .meta({ description: 'Open tasks this many days overdue escalate to the owner\u2019s manager' }),
    escalationContactId: z.uuid().nullable().optional().meta({ description: 'A sales owner who gets escalations of owners without a manager' }),
  })
  .meta({ examples: [example] });
export type CreateProgram = z.infer<typeof CreateProgram>;

export const PatchProgram = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    legacyService: ServiceName,
    successorService: ServiceName,
    shutdownAt: IsoDate,
    spfRecordDeletionAt: IsoDate.nullable(),
    timezone: TimeZone,
    legacy: IdentifiersPatch,
    successor: IdentifiersPatch,
    reminderOffsetsDays: ReminderOffsets,
    checkCadence: CadenceInput,
    autoProgress: z.boolean(),
    escalateAfterDays: z.number().int().min(0).max(365),
    escalationContactId: z.uuid().nullable(),
  })
  .partial()
  .meta({
    examples: [
      { spfRecordDeletionAt: '2023-06-30' },
      { legacy: { spfIncludes: ['spf.po.2iij.net', 'spf2.po.2iij.net'] } },
      { successor: { dkimSelectors: ['gw1', 'gw2'] } },
    ],
  });
export type PatchProgram = z.infer<typeof PatchProgram>;

export const Program = z
  .object({
    id: z.uuid(),
    name: z.string(),
    legacyService: z.string(),
    successorService: z.string(),
    shutdownAt: z.string().meta({ description: 'YYYY-MM-DD', example: '2022-09-30' }),
    spfRecordDeletionAt: z.string().nullable(),
    timezone: z.string(),
    legacy: Identifiers,
    successor: Identifiers,
    reminderOffsetsDays: z.array(z.number().int()),
    checkCadence: CheckCadence,
    autoProgress: z.boolean(),
    escalateAfterDays: z.number().int(),
    escalationContactId: z.uuid().nullable(),
    version: z.number().int().meta({ description: 'Also sent as the ETag' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({
    id: 'Program',
    examples: [
      {
        id: '0b6f3f7e-8c1a-4f43-9a51-6a2f3d1c9e10',
        ...example,
        checkCadence: CADENCE_DEFAULTS,
        autoProgress: true,
        escalateAfterDays: 3,
        escalationContactId: null,
        version: 1,
        createdAt: '2018-10-01T00:00:00.000Z',
        updatedAt: '2018-10-01T00:00:00.000Z',
      },
    ],
  });
export type Program = z.infer<typeof Program>;

export const ProgramPage = Page(Program).meta({ id: 'ProgramPage' });
