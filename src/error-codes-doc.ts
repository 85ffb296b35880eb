import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { features } from './errors.ts';

/**
 * The README's table of error codes, rendered from the catalogue so the two cannot drift:
 * test/error-catalogue.test.ts compares them, and `npm run docs` rewrites the README's section.
 */
export const START = '<!-- error-codes:start -->';
export const END = '<!-- error-codes:end -->';

/** The catalogue as a Markdown table, feature by feature in the catalogue's order. */
export function renderErrorCodes(groups: readonly Record<string, { code: string; status: number; title: string; feature: string }>[] = features): string {
  const rows = groups.flatMap((entries) => Object.values(entries).map((e) => `| \`${e.code}\` | ${e.status} | ${e.title} | ${e.feature} |`));
  return ['| Code | Status | Title | Feature |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** `readme` with the text between the markers replaced by `table`; throws when the markers are missing. */
export function replaceErrorCodesSection(readme: string, table: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end < start) throw new Error(`README.md needs ${START} … ${END} around the table of error codes`);
  return `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`;
}

/** The text between the markers, as replaceErrorCodesSection writes it (without the surrounding newlines). */
export function errorCodesSection(readme: string): string | undefined {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  return start === -1 || end < start ? undefined : readme.slice(start + START.length, end).trim();
}

// `node --import tsx src/error-codes-doc.ts --write` (npm run docs); importing the module does nothing.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv.includes('--write')) {
  const path = join(import.meta.dirname, '..', 'README.md');
  writeFileSync(path, replaceErrorCodesSection(readFileSync(path, 'utf8'), renderErrorCodes()));
  console.log(`README.md: ${features.reduce((n, entries) => n + Object.keys(entries).length, 0)} error codes written`);
}
