/**
 * The names a statement of the schema (a view, trigger or index) can refer to a table or column by: its words, its
 * quoted identifiers, and its strings too, which SQLite takes for identifiers where only a name fits (`UPDATE t SET
 * 'col' = 1`, `CREATE INDEX i ON t('col')`). Left out, as they refer to nothing: comments, and the name after AS,
 * which declares an alias (`relevance_score * 0.5 AS confidence_score`) or, in CAST, names a type. Lower-cased, as
 * SQLite compares names.
 */
export function referencedNames(sql: string): Set<string> {
  const names = new Set<string>();
  let afterAs = false;
  let at = 0;
  while (at < sql.length) {
    const char = sql[at] as string;
    if (/\s/.test(char)) {
      at += 1;
      continue;
    }
    if (sql.startsWith('--', at) || sql.startsWith('/*', at)) {
      at = endOfComment(sql, at);
      continue;
    }
    const quoted = readQuoted(sql, at);
    const word = quoted
      ? null
      : /^[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*/.exec(sql.slice(at, at + 4096))?.[0];
    if (quoted) {
      if (!afterAs) names.add(quoted.text.toLowerCase());
      afterAs = false;
      at = quoted.end;
    } else if (word) {
      if (!afterAs) names.add(word.toLowerCase());
      afterAs = word.toUpperCase() === 'AS';
      at += word.length;
    } else {
      afterAs = false;
      at += /[0-9]/.test(char) ? (/^[0-9][\w.]*/.exec(sql.slice(at, at + 256))?.[0].length ?? 1) : 1;
    }
  }
  return names;
}

function endOfComment(sql: string, at: number): number {
  const line = sql.startsWith('--', at);
  const end = sql.indexOf(line ? '\n' : '*/', at + 2);
  return end < 0 ? sql.length : end + (line ? 1 : 2);
}

/** A quoted token starting at `at` ('…', "…", `…` with doubled quotes inside; […]), unquoted, or null. */
function readQuoted(sql: string, at: number): { text: string; end: number } | null {
  const open = sql[at];
  const close = open === "'" || open === '"' || open === '`' ? open : open === '[' ? ']' : null;
  if (!close) return null;
  let text = '';
  let from = at + 1;
  for (;;) {
    const end = sql.indexOf(close, from);
    if (end < 0) return { text: text + sql.slice(from), end: sql.length };
    text += sql.slice(from, end);
    if (close !== ']' && sql[end + 1] === close) {
      text += close;
      from = end + 2;
    } else return { text, end: end + 1 };
  }
}
