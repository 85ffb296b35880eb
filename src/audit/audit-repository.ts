import { sql } from 'drizzle-orm';
import { col, type Db } from '../../db/client.ts';
import { chunk } from '../lib/batches.ts';
import { auditLog } from '../../db/schema/index.ts';

/** Who did something: a token (via the API), the CLI, or the system itself. */
export interface Actor {
  /** e.g. `token:ops`, `cli`, `system:dns` */
  name: string;
  tokenId?: string | null;
  requestId?: string | null;
}

export interface AuditEntry {
  action: string;
  entityType: string;
  entityId: string;
  before?: unknown;
  after?: unknown;
}

/** The audit row of one entry, for an insert of its own or one inside a larger statement. */
export const auditRow = (actor: Actor, entry: AuditEntry, at: Date): typeof auditLog.$inferInsert => ({
  at,
  actor: actor.name,
  actorTokenId: actor.tokenId ?? null,
  requestId: actor.requestId ?? null,
  action: entry.action,
  entityType: entry.entityType,
  entityId: entry.entityId,
  before: entry.before ?? null,
  after: entry.after ?? null,
});

/** Append one audit row; call it inside the transaction that makes the change. */
export async function appendAudit(db: Db, actor: Actor, entry: AuditEntry, at: Date) {
  await db.insert(auditLog).values(auditRow(actor, entry, at));
}

/** Append many audit rows with one statement per 5,000 (bulk imports, DNS sweeps); inside the transaction that makes the change. */
export async function appendAudits(db: Db, actor: Actor, entries: AuditEntry[], at: Date) {
  const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
  for (const b of chunk(entries, 5000)) {
    await db.execute(sql`
      INSERT INTO audit_log (at, actor, actor_token_id, request_id, action, entity_type, entity_id, before, after)
      SELECT ${at}, ${actor.name}, ${actor.tokenId ?? null}::uuid, ${actor.requestId ?? null}, a.action, a.entity_type, a.entity_id, a.before::jsonb, a.after::jsonb
      FROM unnest(${col(b.map((r) => r.action))}::text[], ${col(b.map((r) => r.entityType))}::text[], ${col(b.map((r) => r.entityId))}::text[],
                  ${col(b.map((r) => json(r.before)))}::text[], ${col(b.map((r) => json(r.after)))}::text[])
        AS a(action, entity_type, entity_id, before, after)`);
  }
}
