/**
 * Colour for people at a terminal, and never anywhere else: not in pipes,
 * files or CI logs, and not when `NO_COLOR` is set (no-color.org).
 *
 * @module
 */

const CODES = { red: 31, yellow: 33, green: 32, dim: 2 } as const;

/** The colours the booth uses. */
export type Color = keyof typeof CODES;

/**
 * Whether to colour what is written to `stream`.
 *
 * @param stream The output, e.g. `Deno.stderr`.
 * @returns True on a terminal when `NO_COLOR` is not set.
 */
export function colorEnabled(stream: { isTerminal(): boolean }): boolean {
  return stream.isTerminal() && !Deno.noColor;
}

/**
 * Wraps text in an ANSI colour when `enabled`.
 *
 * @example
 * ```ts
 * paint("refused", "red", colorEnabled(Deno.stderr));
 * ```
 *
 * @param text The text.
 * @param color The colour.
 * @param enabled Whether colour is on (see {@linkcode colorEnabled}).
 * @returns The text, coloured or as it was.
 */
export function paint(text: string, color: Color, enabled: boolean): string {
  return enabled ? `\x1b[${CODES[color]}m${text}\x1b[0m` : text;
}
