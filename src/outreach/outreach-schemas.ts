import { z } from 'zod';
import { Timestamp } from '../http/common-schemas.ts';
import { SELF_CHECK_DEFAULT_DAYS } from './self-check-service.ts';

export const CreateSelfCheckLink = z
  .strictObject({
    expiresInDays: z
      .number()
      .int()
      .min(1)
      .max(365)
      .default(SELF_CHECK_DEFAULT_DAYS)
      .meta({ description: `Days until the link stops working (default ${SELF_CHECK_DEFAULT_DAYS})` }),
  })
  .meta({ examples: [{ expiresInDays: 30 }] });

export const SelfCheckLink = z
  .object({
    id: z.uuid(),
    customerId: z.uuid(),
    state: z.enum(['active', 'expired', 'revoked']),
    createdAt: Timestamp,
    createdBy: z.string(),
    expiresAt: Timestamp,
    revokedAt: Timestamp.nullable(),
    revokedBy: z.string().nullable(),
    lastOpenedAt: Timestamp.nullable().meta({ description: 'When the page was last opened with this link' }),
  })
  .meta({ id: 'SelfCheckLink' });

export const CreatedSelfCheckLink = SelfCheckLink.extend({
  url: z.url().meta({ description: 'The page to give the customer: shown this once (only a hash of its token is kept)' }),
}).meta({ id: 'CreatedSelfCheckLink' });

export const LinkParams = z.object({ id: z.uuid(), linkId: z.uuid() });
