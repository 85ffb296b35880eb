import type { FastifyInstance } from 'fastify';
import { validationError } from '../errors.ts';
import { findUnstorable } from '../lib/storable-text.ts';

/**
 * Before any route's validation: a NUL or an unpaired surrogate anywhere in the path, the query or a
 * JSON body is a 400 naming the field, never a database error (500) after part of the work. CSV
 * bodies are text the import checks cell by cell, naming line and column.
 */
export function rejectUnstorableText(app: FastifyInstance) {
  app.addHook('preValidation', async (request) => {
    const found = findUnstorable(request.params, 'path');
    findUnstorable(request.query, 'query', found);
    findUnstorable(request.body, 'body', found);
    if (found.length > 0) throw validationError(found);
  });
}
