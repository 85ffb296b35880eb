import type { CustomerStatus, Role } from '../../db/schema/enums.ts';
import type { ErrorKey } from '../errors.ts';

/**
 * The migration status workflow, in one place. Pure: no I/O, so every pair is unit-tested.
 *
 *   not_contacted → contacted → planned → migrating → migrated → completed   (forward skips allowed)
 *   any non-final state → declined | cancelled | on_hold
 *   on_hold → the state it came from | declined | cancelled
 *   completed, declined, cancelled are final; an admin may reopen one (to a progress state) with a reason.
 *   completed needs every domain's latest verdict to be clean, unless a manager or admin gives a reason.
 * A refusal names its reason (a catalogue key) and words the message; the caller throws the catalogue's
 * error, whose entry holds the HTTP status, so the rules stay free of HTTP.
 */
export const progress = ['not_contacted', 'contacted', 'planned', 'migrating', 'migrated', 'completed'] as const;
export const finalStatuses: readonly CustomerStatus[] = ['completed', 'declined', 'cancelled'];
const reopenTargets: readonly CustomerStatus[] = progress.filter((s) => s !== 'completed');

export const isFinal = (status: CustomerStatus) => finalStatuses.includes(status);

/** The states reachable from `from` by the normal rules (no reopening). */
export function nextStatuses(from: CustomerStatus, statusBeforeHold: CustomerStatus | null): CustomerStatus[] {
  if (isFinal(from)) return [];
  if (from === 'on_hold') return [...(statusBeforeHold ? [statusBeforeHold] : []), 'declined', 'cancelled'];
  const later = progress.slice(progress.indexOf(from as (typeof progress)[number]) + 1);
  return [...later, 'declined', 'cancelled', 'on_hold'];
}

export interface TransitionRequest {
  from: CustomerStatus;
  to: CustomerStatus;
  statusBeforeHold: CustomerStatus | null;
  role: Role;
  overrideReason?: string | undefined;
  /** Latest verdict of each of the customer's domains (null: never checked). */
  domainVerdicts: (string | null)[];
}

/** Why a transition is refused: a key of the error catalogue, which gives its code and HTTP status. */
export type TransitionRefusal = Extract<ErrorKey, 'illegalTransition' | 'reopenForbidden' | 'reasonRequired' | 'notClean' | 'overrideForbidden'>;

export type TransitionDecision =
  { ok: true; kind: 'normal' | 'reopen' | 'override' } | { ok: false; reason: TransitionRefusal; message: string; allowed: CustomerStatus[] };

export function decideTransition(req: TransitionRequest): TransitionDecision {
  const allowed = nextStatuses(req.from, req.statusBeforeHold);
  const reason = req.overrideReason?.trim();
  if (isFinal(req.from)) {
    const reopenable = reopenTargets.includes(req.to);
    if (!reopenable) {
      return refuse('illegalTransition', `${req.from} is final; an admin may reopen it to ${reopenTargets.join(', ')}`, []);
    }
    if (req.role !== 'admin') return refuse('reopenForbidden', `Only an admin may reopen a ${req.from} customer`, []);
    if (!reason) return refuse('reasonRequired', 'Reopening needs overrideReason: say why', []);
    return { ok: true, kind: 'reopen' };
  }
  if (!allowed.includes(req.to)) {
    return refuse('illegalTransition', `${req.from} cannot move to ${req.to}; allowed: ${allowed.join(', ')}`, allowed);
  }
  if (req.to === 'completed') {
    const unclean = req.domainVerdicts.filter((v) => v !== 'clean').length;
    const problem =
      req.domainVerdicts.length === 0
        ? 'the customer has no domain to verify'
        : unclean > 0
          ? `${unclean} of ${req.domainVerdicts.length} domain(s) are not verified clean`
          : undefined;
    if (problem) {
      if (!reason) {
        return refuse('notClean', `completed means migrated and DNS clean, but ${problem}; a manager or admin may override with overrideReason`, allowed);
      }
      if (req.role === 'sales')
        return refuse('overrideForbidden', `Only a manager or admin may complete a customer whose DNS is not clean (${problem})`, allowed);
      return { ok: true, kind: 'override' };
    }
  }
  return { ok: true, kind: 'normal' };
}

function refuse(reason: TransitionRefusal, message: string, allowed: CustomerStatus[]): TransitionDecision {
  return { ok: false, reason, message, allowed };
}
