import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../../db/client.ts';
import { customerScope, type Viewer } from '../access/access.ts';

/** Why a domain holds a gate shut. */
export type BlockReason = 'mx_on_legacy' | 'breaks_at_deletion' | 'unverified' | 'not_found';

export interface BlockingDomain {
  domainId: string;
  name: string;
  displayName: string;
  verdict: string | null;
  customerId: string;
  customerName: string;
  reason: BlockReason;
}

/**
 * The domains that hold each readiness gate shut, as the readiness report counts them (live domains;
 * a domain_not_found counts until dismissed): the MX cutover by legacy MX, the SPF-record deletion by
 * breaking at deletion; both by being unverified or missing from DNS. Up to `limit` of each, the
 * most serious reason first.
 */
export async function gateBlockers(db: Db, programId: string, viewer: Viewer, limit = 20) {
  const scope = customerScope(viewer, 'c');
  const reasons = sql`
    CASE WHEN d.latest_verdict = 'domain_not_found' AND d.not_found_dismissed_at IS NULL THEN 'not_found'
         WHEN d.latest_verdict IS NULL OR d.latest_verdict = 'unknown' THEN 'unverified' END`;
  const query = (gate: 'mx' | 'spf') => {
    const own = gate === 'mx' ? sql`d.latest_mx_state IN ('legacy', 'mixed')` : sql`d.breaks_at_deletion`;
    const ownReason = gate === 'mx' ? 'mx_on_legacy' : 'breaks_at_deletion';
    return db.execute(sql`
      SELECT d.id, d.name, d.display_name, d.latest_verdict, c.id AS customer_id, c.name AS customer_name,
        coalesce(${reasons}, ${ownReason}) AS reason
      FROM domains d JOIN customers c ON c.id = d.customer_id
      WHERE d.program_id = ${programId} AND d.archived_at IS NULL AND ${scope ?? sql`true`}
        AND (${own} OR ${reasons} IS NOT NULL)
      ORDER BY coalesce(${reasons}, ${ownReason}), d.name, d.id
      LIMIT ${limit}`);
  };
  const [mx, spf] = await Promise.all([query('mx'), query('spf')]);
  type Row = { id: string; name: string; display_name: string; latest_verdict: string | null; customer_id: string; customer_name: string; reason: BlockReason };
  const toBlocking = (r: Row): BlockingDomain => ({
    domainId: r.id,
    name: r.name,
    displayName: r.display_name,
    verdict: r.latest_verdict,
    customerId: r.customer_id,
    customerName: r.customer_name,
    reason: r.reason,
  });
  return { mxCutover: rowsOf<Row>(mx).map(toBlocking), spfRecordDeletion: rowsOf<Row>(spf).map(toBlocking) };
}
