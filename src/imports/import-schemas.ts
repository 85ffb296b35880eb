import { z } from 'zod';

/** The columns of the customer list, in their documented order. */
export const importColumns = [
  'external_ref',
  'customer_name',
  'domains',
  'sales_owner_email',
  'sales_owner_name',
  'department',
  'manager_email',
  'status',
  'planned_migration_at',
  'contact_name',
  'contact_email',
  'contact_language',
] as const;
export type Column = (typeof importColumns)[number];

/** Errors (and conflicts) a result lists; it counts them all. */
export const LISTED = 1000;

export const ImportError = z.object({
  line: z.number().int().meta({ description: '1-based line in the file; the header is line 1' }),
  column: z.enum(importColumns).nullable(),
  message: z.string(),
});

export const ImportConflict = z.object({ line: z.number().int(), externalRef: z.string(), message: z.string() });

export const ImportSummary = z.object({
  importId: z.uuid(),
  created: z.number().int(),
  updated: z.number().int(),
  unchanged: z.number().int(),
  ownersCreated: z.number().int(),
  ownersUpdated: z.number().int(),
  domainsAdded: z.number().int(),
  contactsAdded: z.number().int().meta({
    description: 'Technical contacts added from contact_name/contact_email/contact_language (a customer that has a contact with that email already gets none)',
  }),
  errorCount: z
    .number()
    .int()
    .meta({ description: `Every error found; the first ${LISTED} by line are listed` }),
  conflicts: z.array(ImportConflict).meta({
    description: `Rows not written because the customer (or a domain) changed while the import ran; the change made meanwhile stands. Import again to apply them. The first ${LISTED} by line.`,
  }),
  conflictCount: z.number().int(),
  dryRun: z.boolean(),
  written: z.boolean(),
});

export const ImportResult = ImportSummary.extend({
  errors: z.array(ImportError).meta({ description: `The first ${LISTED} errors by line` }),
}).meta({
  id: 'ImportResult',
  examples: [
    {
      importId: '3f1c0c9e-8f5a-4b8e-9d55-2f7a1e0b6c11',
      created: 5,
      updated: 1,
      unchanged: 0,
      ownersCreated: 2,
      ownersUpdated: 0,
      domainsAdded: 8,
      contactsAdded: 5,
      errors: [],
      errorCount: 0,
      conflicts: [],
      conflictCount: 0,
      dryRun: false,
      written: true,
    },
  ],
});

export type ImportError = z.infer<typeof ImportError>;
/** A row the import planned but did not write, because someone changed the customer meanwhile. */
export type ImportConflict = z.infer<typeof ImportConflict>;
export type ImportResult = z.infer<typeof ImportResult>;
