import { once } from 'node:events';
import { TextDecoder } from 'node:util';
import { CsvError, parse } from 'csv-parse';

export type CsvEncoding = 'utf-8' | 'shift_jis';

export class CsvReadError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly kind: 'encoding' | 'syntax' | 'too_large',
  ) {
    super(message);
  }
}

const SNIFF_BYTES = 64 * 1024;

/**
 * Which encoding a CSV is in, from its first bytes: a UTF-8 BOM or valid UTF-8 → utf-8; anything else
 * → Shift_JIS (read as Windows-31J/CP932, what Japanese Excel writes). A multi-byte character cut at
 * the end of the sample is not held against UTF-8.
 */
export function sniffEncoding(head: Buffer): CsvEncoding {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return 'utf-8';
  } catch {
    return 'shift_jis';
  }
}

/**
 * CRLF → LF, also across chunk boundaries: csv-parse counts a CRLF inside a quoted field as two
 * lines, which would shift every line number reported after it.
 */
async function* toLf(chunks: AsyncIterable<string>) {
  let pendingCr = false;
  for await (let text of chunks) {
    if (pendingCr) text = `\r${text}`;
    pendingCr = text.endsWith('\r');
    if (pendingCr) text = text.slice(0, -1);
    yield text.replace(/\r\n/g, '\n');
  }
  if (pendingCr) yield '\r';
}

/** Decodes a byte stream into text chunks, refusing invalid bytes and bodies over `maxBytes`. */
async function* decode(source: AsyncIterable<Buffer | string>, encoding: CsvEncoding | 'auto', maxBytes: number) {
  let head: Buffer[] = [];
  let headBytes = 0;
  let decoder: TextDecoder | undefined;
  let total = 0;
  let lines = 1;
  const emit = (bytes: Buffer, final = false) => {
    try {
      const text = decoder!.decode(bytes, { stream: !final });
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
      return text;
    } catch {
      throw new CsvReadError(
        `The file is not valid ${decoder!.encoding === 'utf-8' ? 'UTF-8' : 'Shift_JIS'} near line ${lines}; save it as UTF-8 or Shift_JIS, or pass encoding=`,
        lines,
        'encoding',
      );
    }
  };
  const start = () => {
    const sample = Buffer.concat(head);
    const chosen = encoding === 'auto' ? sniffEncoding(sample) : encoding;
    decoder = new TextDecoder(chosen, { fatal: true });
    head = [];
    return emit(sample);
  };
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += bytes.length;
    if (total > maxBytes) throw new CsvReadError(`The file is larger than ${maxBytes} bytes`, lines, 'too_large');
    if (decoder) {
      yield emit(bytes);
      continue;
    }
    head.push(bytes);
    headBytes += bytes.length;
    if (headBytes >= SNIFF_BYTES) yield start();
  }
  if (!decoder) yield start();
  yield emit(Buffer.alloc(0), true);
}

export interface CsvRecord {
  /** 1-based line number of the record in the file (the header is line 1). */
  line: number;
  fields: string[];
}

/** Streams records out of a CSV body: decoded, BOM removed, quoted fields and CRLF handled. */
export async function* readCsv(
  source: AsyncIterable<Buffer | string>,
  options: { encoding?: CsvEncoding | 'auto'; maxBytes: number },
): AsyncGenerator<CsvRecord> {
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true });
  // Feed the parser by hand so a decoding error ends the iteration below instead of escaping.
  void (async () => {
    for await (const text of toLf(decode(source, options.encoding ?? 'auto', options.maxBytes))) {
      if (!parser.write(text)) await once(parser, 'drain');
    }
    parser.end();
  })().catch((err: unknown) => parser.destroy(err as Error));
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      // info.lines is where the record ends; a quoted field may span lines.
      const inner = record.reduce((n, field) => n + (field.match(/\n/g)?.length ?? 0), 0);
      yield { line: info.lines - inner, fields: record };
    }
  } catch (err) {
    if (err instanceof CsvReadError) throw err;
    // Every csv-parse complaint (INVALID_OPENING_QUOTE, CSV_QUOTE_NOT_CLOSED, …) is the file's fault.
    if (err instanceof CsvError) throw new CsvReadError(`CSV syntax error: ${err.message}`, (err as CsvError & { lines?: number }).lines ?? 0, 'syntax');
    throw err;
  }
}
