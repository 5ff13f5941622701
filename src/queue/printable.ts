/**
 * What would break a table's lines or mislead the eye: control characters (a newline in a path), the line and
 * paragraph separators, and the bidirectional overrides that reorder what follows them.
 */
const UNPRINTABLE = /[\p{Cc}\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const EACH_UNPRINTABLE = new RegExp(UNPRINTABLE.source, 'gu');
/** The same, but a newline: for text whose own lines are meant to show as lines (a stack trace, indented JSON). */
const EACH_UNPRINTABLE_BUT_NEWLINE = new RegExp(`(?!\\n)${UNPRINTABLE.source}`, 'gu');

const escaped = (character: string) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * The text as is when every character prints plainly; otherwise as a JSON string literal, quotes included, with
 * `\n`, `\t`, `\u0085`…: unambiguous, and a reader can paste it into JSON.parse. `--json` output keeps the raw text.
 */
export function printable(text: string): string {
  if (!UNPRINTABLE.test(text)) return text;
  // JSON.stringify escapes C0 controls but leaves DEL, C1 controls, separators and bidi marks raw.
  return JSON.stringify(text).replace(EACH_UNPRINTABLE, escaped);
}

/**
 * A value as indented JSON whose strings are escaped as `printable`'s are: JSON.stringify escapes C0 controls, and
 * this escapes what it leaves raw (DEL, C1 controls, separators, bidi marks). Its only newlines are its own.
 */
export function printableJson(value: unknown): string {
  return (JSON.stringify(value, null, 2) ?? String(value)).replace(EACH_UNPRINTABLE_BUT_NEWLINE, escaped);
}

/**
 * A stack trace with a frame a line, for a bug report on a terminal: the error's message, wherever it stands in
 * the trace, is shown `printable` (a newline in it cannot pass for a line of the trace), and any other unprintable
 * character but the newlines between frames as `\u001b`.
 */
export function printableStack(stack: string, message = ''): string {
  const at = message === '' ? -1 : stack.indexOf(message);
  const escapeAllButNewlines = (text: string) => text.replace(EACH_UNPRINTABLE_BUT_NEWLINE, escaped);
  if (at < 0) return escapeAllButNewlines(stack);
  return `${escapeAllButNewlines(stack.slice(0, at))}${printable(message)}${escapeAllButNewlines(stack.slice(at + message.length))}`;
}
