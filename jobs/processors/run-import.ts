import { isAppError } from '../../src/errors.ts';
import { finishFailed, runImport } from '../../src/imports/import-service.ts';
import { IMPORT_ATTEMPTS, type JobPayload } from '../../src/job-contract/catalogue.ts';
import type { JobProcessor } from '../context.ts';

/**
 * Plans and writes a large import received by the API. The import runs in one transaction, so an
 * attempt cut short (a crash, a lost database) wrote nothing and the next starts over from the staged
 * rows; the last attempt's failure is recorded on the import for GET /v1/imports/{id}.
 */
export const runImportJob: JobProcessor<JobPayload<'imports', 'run-import'>> = async ({ importId }, { deps, attemptsMade }) => {
  try {
    const result = await runImport(deps.db, importId, deps.now());
    deps.log.info({ importId, created: result.created, updated: result.updated, errors: result.errorCount, written: result.written }, 'import finished');
    return { written: result.written, errorCount: result.errorCount };
  } catch (err) {
    if (isAppError(err, 'importFailed')) {
      // Given up on already (its heartbeat stopped for so long that a newer import took the program).
      deps.log.warn({ importId }, err.message);
      return { written: false, skipped: true };
    }
    if (attemptsMade + 1 >= IMPORT_ATTEMPTS) {
      await finishFailed(deps.db, importId, `the import failed ${IMPORT_ATTEMPTS} times (${(err as Error).message}); nothing was written`, deps.now());
    }
    throw err;
  }
};
