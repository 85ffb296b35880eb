import { randomBytes } from 'node:crypto';
import type { Db } from '../../db/client.ts';
import { customers, domains, programs, salesOwners } from '../../db/schema/index.ts';
import type { Role } from '../../db/schema/enums.ts';
import { createToken } from '../../src/tokens/token-service.ts';

const unique = () => randomBytes(4).toString('hex');

/** A valid POST /v1/programs body. */
export const programBody = (overrides: Record<string, unknown> = {}) => ({
  name: `Program ${unique()}`,
  legacyService: 'Legacy mail hosting',
  successorService: 'Secure MX gateway',
  shutdownAt: '2022-09-30',
  spfRecordDeletionAt: '2023-03-31',
  legacy: { mxHostSuffixes: ['po.2iij.net'], spfIncludes: ['spf.po.2iij.net'] },
  successor: { mxHostSuffixes: ['mx.gateway.example'], spfIncludes: ['spf.gateway.example'] },
  ...overrides,
});

export async function makeToken(
  db: Db,
  role: Role,
  binding: { salesOwnerId?: string; department?: string; expiresAt?: Date } = {},
): Promise<{ token: string; id: string; auth: { authorization: string } }> {
  const { token, row } = await createToken(db, { name: `${role}-${unique()}`, role, ...binding }, { name: 'test' });
  return { token, id: row.id, auth: { authorization: `Bearer ${token}` } };
}

export async function makeSalesOwner(db: Db, overrides: Partial<typeof salesOwners.$inferInsert> = {}) {
  const [row] = await db
    .insert(salesOwners)
    .values({ name: `Owner ${unique()}`, email: `owner-${unique()}@example.jp`, department: 'Sales 1', ...overrides })
    .returning();
  return row!;
}

export async function makeProgram(db: Db, overrides: Partial<typeof programs.$inferInsert> = {}) {
  const [row] = await db
    .insert(programs)
    .values({
      name: `Program ${unique()}`,
      legacyService: 'Legacy',
      successorService: 'Successor',
      shutdownAt: '2022-09-30',
      legacySpfIncludes: ['spf.po.2iij.net'],
      reminderOffsetsDays: [-30, -7],
      ...overrides,
    })
    .returning();
  return row!;
}

export async function makeCustomer(db: Db, programId: string, salesOwnerId: string, overrides: Partial<typeof customers.$inferInsert> = {}) {
  const [row] = await db
    .insert(customers)
    .values({ programId, salesOwnerId, externalRef: `C-${unique()}`, name: `Customer ${unique()}`, ...overrides })
    .returning();
  return row!;
}

export async function makeDomain(db: Db, customer: { id: string; programId: string }, overrides: Partial<typeof domains.$inferInsert> = {}) {
  const name = `d-${unique()}.example.jp`;
  const [row] = await db
    .insert(domains)
    .values({ programId: customer.programId, customerId: customer.id, name, displayName: name, ...overrides })
    .returning();
  return row!;
}
