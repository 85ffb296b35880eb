import type { Db } from '../../db/client.ts';
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

/** Append one audit row; call it inside the transaction that makes the change. */
export async function appendAudit(db: Db, actor: Actor, entry: AuditEntry, at: Date) {
  await db.insert(auditLog).values({
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
}
