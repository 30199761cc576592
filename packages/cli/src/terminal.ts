/**
 * Output that fits where it is shown: a terminal's width (80 columns when unknown, e.g. piped
 * into a file or CI log), and numbers short enough for a column.
 */

export const DEFAULT_COLUMNS = 80;

export function terminalWidth(stream: { columns?: number } = process.stdout): number {
  return stream.columns && stream.columns > 0 ? stream.columns : DEFAULT_COLUMNS;
}

/** 999, 1.5k, 12k, 1.5M, 12M: a count or rate in at most four characters (five past 999M). */
export function compact(n: number): string {
  const scaled = (div: number, unit: string): string => (n >= div * 10 ? `${(n / div).toFixed(0)}${unit}` : `${(n / div).toFixed(1)}${unit}`);
  if (n >= 1_000_000) return scaled(1_000_000, 'M');
  if (n >= 1000) return scaled(1000, 'k');
  return String(Math.round(n));
}

/**
 * Joins `parts` with two spaces into a line shorter than `width` (the last column is left free,
 * so a terminal does not wrap): parts that do not fit are dropped from the end, marked `…`.
 */
export function fitParts(parts: readonly string[], width: number): string {
  const max = width - 1;
  let line = '';
  for (const [i, part] of parts.entries()) {
    const next = line === '' ? part : `${line}  ${part}`;
    if (next.length > max) {
      const dropped = `${line}  …`;
      return i === 0 ? part.slice(0, max) : dropped.length <= max ? dropped : line;
    }
    line = next;
  }
  return line;
}
