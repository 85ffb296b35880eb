import { z } from 'zod';
import { Timestamp } from '../http/common-schemas.ts';
import { Page, PageQuery } from '../http/pagination.ts';

const Email = z
  .email({ error: 'expected an email address' })
  .max(254)
  .transform((e) => e.trim().toLowerCase())
  .meta({ description: 'Unique, compared case-insensitively; stored in lower case', example: 'suzuki@example.co.jp' });
const Department = z.string().trim().min(1).max(100).meta({ example: '法人営業1部' });

export const CreateSalesOwner = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    email: Email,
    department: Department,
    managerId: z.uuid().nullable().optional().meta({ description: 'Another sales owner: the escalation target' }),
    active: z.boolean().default(true),
  })
  .meta({ examples: [{ name: '鈴木 一郎', email: 'suzuki@example.co.jp', department: '法人営業1部', managerId: null }] });
export type CreateSalesOwner = z.infer<typeof CreateSalesOwner>;

export const PatchSalesOwner = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    email: Email,
    department: Department,
    managerId: z.uuid().nullable(),
    active: z.boolean(),
  })
  .partial()
  .meta({ examples: [{ managerId: '5b0a5c0e-1f4e-4d55-9a52-0c2c6c1b9f10' }, { active: false }] });
export type PatchSalesOwner = z.infer<typeof PatchSalesOwner>;

export const SalesOwner = z
  .object({
    id: z.uuid(),
    name: z.string(),
    email: z.string(),
    department: z.string(),
    managerId: z.uuid().nullable(),
    active: z.boolean(),
    version: z.number().int(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({
    id: 'SalesOwner',
    examples: [
      {
        id: '5b0a5c0e-1f4e-4d55-9a52-0c2c6c1b9f10',
        name: '鈴木 一郎',
        email: 'suzuki@example.co.jp',
        department: '法人営業1部',
        managerId: '7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
        active: true,
        version: 1,
        createdAt: '2021-10-01T00:00:00.000Z',
        updatedAt: '2021-10-01T00:00:00.000Z',
      },
    ],
  });
export type SalesOwner = z.infer<typeof SalesOwner>;

export const SalesOwnerQuery = PageQuery.extend({
  department: z.string().max(100).optional(),
  active: z.stringbool().optional(),
  q: z.string().trim().min(1).max(200).optional().meta({ description: 'Prefix of the name or email' }),
});
export const SalesOwnerPage = Page(SalesOwner).meta({ id: 'SalesOwnerPage' });

export const Handover = z
  .strictObject({
    toSalesOwnerId: z.uuid(),
    deactivate: z.boolean().default(false).meta({ description: 'Also mark the leaving owner inactive' }),
  })
  .meta({ examples: [{ toSalesOwnerId: '5b0a5c0e-1f4e-4d55-9a52-0c2c6c1b9f10', deactivate: true }] });
export const HandoverResult = z.object({ customersMoved: z.number().int(), tasksMoved: z.number().int() });
