/** Change dates from Debian changelogs (`/usr/share/doc/<pkg>/changelog.Debian.gz`). */

const MONTHS: Readonly<Record<string, number>> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

/**
 * The date of a changelog trailer line ` -- Name <mail>  Mon, 01 Jan 2024 12:00:00 +0000`, in
 * seconds, or undefined when the line is not a trailer or its date cannot be read (such lines are
 * skipped: one odd entry should not fail a build). The weekday is not checked.
 */
export function parseTrailerDate(line: string): number | undefined {
  if (!line.startsWith(' -- ')) return undefined;
  const close = line.lastIndexOf('>');
  if (close < 0) return undefined;
  const match =
    /^\s*(?:[A-Za-z]{3},?\s+)?(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+([+-])(\d{2})(\d{2})\s*$/.exec(
      line.slice(close + 1),
    );
  if (match === null) return undefined;
  const [, day, mon, year, hh, mm, ss, sign, offH, offM] = match;
  const month = MONTHS[(mon as string).toLowerCase()];
  if (month === undefined) return undefined;
  const ms = Date.UTC(Number(year), month, Number(day), Number(hh), Number(mm), Number(ss ?? '0'));
  if (!Number.isFinite(ms)) return undefined;
  const offset = (sign === '-' ? -1 : 1) * (Number(offH) * 3600 + Number(offM) * 60);
  return Math.floor(ms / 1000) - offset;
}
