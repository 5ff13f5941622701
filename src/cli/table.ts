import { printable } from '../queue/printable.js';

/** A plain fixed-width table, one line per row; the last column is left unpadded (it holds long error sentences). */
export function formatTable(header: string[], rows: string[][]): string {
  const cells = rows.map((row) => row.map(printable));
  const last = header.length - 1;
  const widths = header.map((title, column) =>
    column === last ? 0 : Math.max(title.length, ...cells.map((row) => (row[column] ?? '').length)),
  );
  const line = (row: string[]) =>
    row
      .map((cell, column) => (column === last ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}
