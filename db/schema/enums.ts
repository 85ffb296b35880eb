/** Enumerations shared by the schema's check constraints and the API's zod schemas. */
export const customerStatuses = ['not_contacted', 'contacted', 'planned', 'migrating', 'migrated', 'completed', 'declined', 'cancelled', 'on_hold'] as const;
export type CustomerStatus = (typeof customerStatuses)[number];

/**
 * `domain_not_found`: the domain does not exist (MX and SPF answer NXDOMAIN). Determined, never clean:
 * it keeps the readiness gates shut until a manager dismisses it with a reason or removes the domain.
 */
export const verdicts = ['clean', 'needs_mx_change', 'needs_spf_cleanup', 'needs_mx_and_spf', 'domain_not_found', 'unknown'] as const;
export type Verdict = (typeof verdicts)[number];

export const roles = ['admin', 'manager', 'sales'] as const;
export type Role = (typeof roles)[number];

/** A customer contact's part: the one who edits the DNS, or the one who decides. */
export const contactRoles = ['technical', 'business'] as const;
export const contactLanguages = ['ja', 'en'] as const;
/** What a contact-log entry was: a call, an email, a meeting, or a note (which is not contact). */
export const contactEventKinds = ['call', 'email', 'meeting', 'note'] as const;

export const taskKinds = ['reminder', 'spf_cleanup', 'regression', 'unable_to_verify', 'escalation'] as const;
export const taskStatuses = ['open', 'completed', 'dismissed', 'closed'] as const;

/** SQL list literal for a check constraint: ('a', 'b'). Values are our own constants, never user input. */
export const sqlList = (values: readonly string[]) => `(${values.map((v) => `'${v}'`).join(', ')})`;
