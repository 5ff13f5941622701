/** A plain fixed-width table; the last column is left unpadded (it holds long error sentences). */
export function formatTable(header: string[], rows: string[][]): string {
  const last = header.length - 1;
  const widths = header.map((title, column) =>
    column === last ? 0 : Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === last ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
