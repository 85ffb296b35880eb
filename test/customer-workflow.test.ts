import { describe, expect, it } from 'vitest';
import { customerStatuses, type CustomerStatus } from '../db/schema/enums.ts';
import { decideTransition } from '../src/customer-status/customer-workflow.ts';

/** The workflow written out by hand, independently of the implementation: from → legal targets. */
const legal: Record<Exclude<CustomerStatus, 'on_hold'>, CustomerStatus[]> = {
  not_contacted: ['contacted', 'planned', 'migrating', 'migrated', 'completed', 'declined', 'cancelled', 'on_hold'],
  contacted: ['planned', 'migrating', 'migrated', 'completed', 'declined', 'cancelled', 'on_hold'],
  planned: ['migrating', 'migrated', 'completed', 'declined', 'cancelled', 'on_hold'],
  migrating: ['migrated', 'completed', 'declined', 'cancelled', 'on_hold'],
  migrated: ['completed', 'declined', 'cancelled', 'on_hold'],
  completed: [],
  declined: [],
  cancelled: [],
};
const reopenable: CustomerStatus[] = ['not_contacted', 'contacted', 'planned', 'migrating', 'migrated'];
const clean = ['clean'];

describe('the status workflow', () => {
  const pairs = customerStatuses.filter((s) => s !== 'on_hold').flatMap((from) => customerStatuses.map((to) => [from, to] as const));
  it.each(pairs)('%s → %s for a sales owner follows the table', (from, to) => {
    const decision = decideTransition({ from, to, statusBeforeHold: null, role: 'sales', domainVerdicts: clean });
    const expected = legal[from as keyof typeof legal].includes(to);
    expect(decision.ok).toBe(expected);
    if (!decision.ok && !['completed', 'declined', 'cancelled'].includes(from)) {
      expect(decision).toMatchObject({ reason: 'illegalTransition', allowed: legal[from as keyof typeof legal] });
    }
  });

  const holdPairs = reopenable.flatMap((before) => customerStatuses.map((to) => [before, to] as const));
  it.each(holdPairs)('on_hold (from %s) → %s only back, or declined/cancelled', (before, to) => {
    const decision = decideTransition({ from: 'on_hold', to, statusBeforeHold: before, role: 'sales', domainVerdicts: clean });
    expect(decision.ok).toBe([before, 'declined', 'cancelled'].includes(to));
  });

  it('lets only an admin reopen a final customer, with a reason, to a progress state', () => {
    for (const from of ['completed', 'declined', 'cancelled'] as const) {
      for (const to of customerStatuses) {
        const admin = decideTransition({ from, to, statusBeforeHold: null, role: 'admin', overrideReason: 'customer came back', domainVerdicts: clean });
        expect(admin.ok, `${from} → ${to}`).toBe(reopenable.includes(to));
        if (reopenable.includes(to)) {
          expect(decideTransition({ from, to, statusBeforeHold: null, role: 'manager', overrideReason: 'x', domainVerdicts: clean })).toMatchObject({
            ok: false,
            reason: 'reopenForbidden',
          });
          expect(decideTransition({ from, to, statusBeforeHold: null, role: 'admin', domainVerdicts: clean })).toMatchObject({
            ok: false,
            reason: 'reasonRequired',
          });
        }
      }
    }
  });

  it('completes only when every domain is clean, unless a manager or admin overrides with a reason', () => {
    const base = { from: 'migrated' as const, to: 'completed' as const, statusBeforeHold: null };
    expect(decideTransition({ ...base, role: 'sales', domainVerdicts: ['clean', 'clean'] })).toEqual({ ok: true, kind: 'normal' });
    for (const verdicts of [['clean', 'needs_spf_cleanup'], ['clean', null], ['unknown'], []]) {
      expect(decideTransition({ ...base, role: 'sales', domainVerdicts: verdicts })).toMatchObject({ ok: false, reason: 'notClean' });
      expect(decideTransition({ ...base, role: 'sales', overrideReason: 'trust me', domainVerdicts: verdicts })).toMatchObject({
        ok: false,
        reason: 'overrideForbidden',
      });
      expect(decideTransition({ ...base, role: 'manager', overrideReason: 'domain retired', domainVerdicts: verdicts })).toEqual({
        ok: true,
        kind: 'override',
      });
      expect(decideTransition({ ...base, role: 'admin', overrideReason: '   ', domainVerdicts: verdicts })).toMatchObject({ ok: false, reason: 'notClean' });
    }
  });
});
