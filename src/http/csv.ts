import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';

/** Characters that make a spreadsheet read a cell as a formula (CSV injection), their full-width forms too (Excel in Japanese takes ＝ for =). */
const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/** One CSV cell: text that could start a formula gets a leading apostrophe; quoted when needed. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = value instanceof Date ? value.toISOString() : String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvLine = (cells: unknown[]) => `${cells.map(csvCell).join(',')}\r\n`;

/**
 * Streams a CSV: the header, then rows as the source yields them (memory stays flat). UTF-8 with a
 * BOM by default, so Excel shows Japanese names.
 */
export function sendCsv(reply: FastifyReply, filename: string, header: string[], rows: AsyncIterable<unknown[]>, { bom = true } = {}) {
  async function* lines() {
    yield `${bom ? '\uFEFF' : ''}${csvLine(header)}`;
    let batch = '';
    for await (const row of rows) {
      batch += csvLine(row);
      if (batch.length > 64 * 1024) {
        yield batch;
        batch = '';
      }
    }
    if (batch) yield batch;
  }
  return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${filename}"`).send(Readable.from(lines()));
}
