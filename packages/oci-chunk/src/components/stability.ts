/** Stability figures: the probability that a component does not change within 7 days. */

const DAY = 86_400;

/** Stability when a package shows no change in the last year (or has no change history at all). */
export const NO_CHANGE_STABILITY = 0.99;

/**
 * Stability from change dates (seconds), relative to `now`:
 * - only dates in the 365 days up to `now` count (`now - 365d < t <= now`); later dates are ignored;
 * - changes are binned by UTC day, so several uploads on one day count once;
 * - lambda = changed days / days from the oldest counted day to `now`'s day (at least 1);
 * - stability = exp(-7 lambda), the Poisson probability of no change within a week;
 * - no counted change: 0.99.
 */
export function changeStability(dates: Iterable<number>, now: number): number {
  const from = now - 365 * DAY;
  const days = new Set<number>();
  for (const t of dates) {
    if (t > from && t <= now) days.add(Math.floor(t / DAY));
  }
  if (days.size === 0) return NO_CHANGE_STABILITY;
  let oldest = Infinity;
  for (const d of days) oldest = Math.min(oldest, d);
  const span = Math.max(1, Math.floor(now / DAY) - oldest);
  return Math.exp((-7 * days.size) / span);
}

const NAMED_INTERVALS: Readonly<Record<string, number>> = {
  daily: 1,
  weekly: 7,
  biweekly: 14,
  monthly: 30,
  quarterly: 90,
  yearly: 365,
};

/** Default `user.update-interval`, in days. */
export const DEFAULT_UPDATE_INTERVAL = 7;

/**
 * Days from a `user.update-interval` value: a positive decimal number of days or one of
 * daily/weekly/biweekly/monthly/quarterly/yearly (case-insensitive). Undefined when invalid.
 */
export function parseUpdateInterval(value: string): number | undefined {
  const text = value.trim().toLowerCase();
  const named = Object.hasOwn(NAMED_INTERVALS, text) ? NAMED_INTERVALS[text] : undefined;
  if (named !== undefined) return named;
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  const days = Number(text);
  return days > 0 && Number.isFinite(days) ? days : undefined;
}

/** Stability of a component expected to change once every `days` days: exp(-7 / days). */
export function intervalStability(days: number): number {
  return Math.exp(-7 / days);
}
