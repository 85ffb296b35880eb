/*
 * Look-alikes: text that reads the same as other text but is not. A customer's external ref is compared
 * by value, so `ＺＷ-1` (full-width) and `ZW-1\u200b` (a zero-width space) must not become customers
 * apart from `ZW-1`; a domain label mixing scripts (`аpple`, its first letter Cyrillic) is shown with its
 * punycode so nobody mistakes it for the real one (UTS #39).
 */

/** Invisible characters: format controls (zero-width space and joiners, BOM, soft hyphen, bidi marks) and other controls. */
const INVISIBLE = /[\p{Cf}\p{Cc}]/u;

/** Why a reference cannot be used as it is (an invisible character), or undefined. */
export function invisibleCharacterIn(text: string): string | undefined {
  const m = INVISIBLE.exec(text);
  if (!m) return undefined;
  const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `contains an invisible character (U+${code}) at position ${m.index + 1}; type the reference without it`;
}

/** A reference in its one spelling: Unicode NFKC (full-width letters and digits become ASCII), trimmed. */
export const normalizeReference = (text: string) => text.normalize('NFKC').trim();

/** The scripts UTS #39 ignores when it decides whether text mixes scripts. */
const NEUTRAL = /[\p{Script=Common}\p{Script=Inherited}]/u;
const SCRIPTS = [
  'Latin',
  'Cyrillic',
  'Greek',
  'Armenian',
  'Hebrew',
  'Arabic',
  'Han',
  'Hiragana',
  'Katakana',
  'Hangul',
  'Bopomofo',
  'Thai',
  'Georgian',
  'Cherokee',
];
const SCRIPT_TESTS = SCRIPTS.map((name) => [name, new RegExp(`\\p{Script=${name}}`, 'u')] as const);
/** Combinations UTS #39's "highly restrictive" level allows: Japanese, Chinese, Korean writing with Latin. */
const ALLOWED = [new Set(['Latin', 'Han', 'Hiragana', 'Katakana']), new Set(['Latin', 'Han', 'Bopomofo']), new Set(['Latin', 'Han', 'Hangul'])];

function scriptsOf(label: string): Set<string> {
  const found = new Set<string>();
  for (const ch of label) {
    if (NEUTRAL.test(ch)) continue;
    found.add(SCRIPT_TESTS.find(([, test]) => test.test(ch))?.[0] ?? 'Other');
  }
  return found;
}

/**
 * The labels of a Unicode domain name that mix scripts in a way no one writes (Latin with Cyrillic,
 * say), by UTS #39's highly restrictive profile; Japanese (Han, kana and Latin together) is fine.
 */
export function mixedScriptLabels(unicodeName: string): string[] {
  return unicodeName.split('.').filter((label) => {
    const scripts = scriptsOf(label);
    if (scripts.size <= 1) return false;
    return !ALLOWED.some((allowed) => [...scripts].every((s) => allowed.has(s)));
  });
}
