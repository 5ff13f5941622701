/**
 * What would break a table's lines or mislead the eye: control characters (a newline in a path), the line and
 * paragraph separators, and the bidirectional overrides that reorder what follows them.
 */
const UNPRINTABLE = /[\p{Cc}\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const EACH_UNPRINTABLE = new RegExp(UNPRINTABLE.source, 'gu');

/**
 * The text as is when every character prints plainly; otherwise as a JSON string literal, quotes included, with
 * `\n`, `\t`, `\u0085`…: unambiguous, and a reader can paste it into JSON.parse. `--json` output keeps the raw text.
 */
export function printable(text: string): string {
  if (!UNPRINTABLE.test(text)) return text;
  // JSON.stringify escapes C0 controls but leaves DEL, C1 controls, separators and bidi marks raw.
  return JSON.stringify(text).replace(
    EACH_UNPRINTABLE,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
