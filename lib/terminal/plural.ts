/**
 * Counts in words, for messages: "1 voter", "3 voters".
 *
 * @module
 */

/**
 * A count with its noun, made plural with an "s" unless the count is one.
 *
 * @example
 * ```ts
 * plural(1, "voter"); // "1 voter"
 * plural(3, "voter"); // "3 voters"
 * ```
 *
 * @param count How many.
 * @param noun The noun in the singular, e.g. `voter`.
 * @returns The count and the noun, e.g. `3 voters`.
 */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
