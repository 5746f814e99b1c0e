/**
 * Text from elsewhere (a server, a file) made safe to print on a terminal:
 * every character that could move the cursor, clear the screen, set the
 * clipboard (OSC 52), hide text or reorder it is shown as an escape instead
 * of being obeyed.
 *
 * @module
 */

/**
 * C0 and C1 controls (ESC included) and DEL (`Cc`), format characters such
 * as bidi overrides and zero-width spaces (`Cf`), line and paragraph
 * separators (`Zl`, `Zp`), lone surrogates (`Cs`), and the other
 * default-ignorable code points, which a terminal may draw as nothing
 * (variation selectors, the combining grapheme joiner U+034F, the Hangul
 * filler U+3164).
 */
const UNSAFE =
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]/gu;

/** Options of {@linkcode escapeForTerminal}. */
export interface EscapeOptions {
  /**
   * Whether a newline passes as a line break (default true). Turn it off for
   * a value that must stay on one line, such as a name.
   */
  newlines?: boolean;
}

/**
 * Shows unsafe characters as escapes: `\xHH` below U+0100, `\u{HHHH}` above.
 * The result contains only printable characters (and newlines when allowed),
 * so escaping twice changes nothing more.
 *
 * @example
 * ```ts
 * escapeForTerminal("Linda\x1b[2J"); // "Linda\\x1b[2J"
 * escapeForTerminal("\u202eadniL"); // "\\u{202E}adniL"
 * ```
 *
 * @param text Any text.
 * @param options Whether newlines pass.
 * @returns The text, safe to print.
 */
export function escapeForTerminal(
  text: string,
  options: EscapeOptions = {},
): string {
  const newlines = options.newlines ?? true;
  return text.replace(UNSAFE, (char) => {
    if (char === "\n" && newlines) return char;
    const code = char.codePointAt(0)!;
    const hex = code.toString(16).toUpperCase();
    return code < 0x100
      ? `\\x${hex.padStart(2, "0").toLowerCase()}`
      : `\\u{${hex.padStart(4, "0")}}`;
  });
}

/**
 * A line of the server's security log made safe to write: what a peer sent
 * (a registration number, a protocol error's detail) is shown with the
 * terminal's escapes, newlines included, so it can neither forge a second
 * log line nor reorder one (U+202E) on the official's terminal.
 *
 * @example
 * ```ts
 * escapeLogLine('login failed for registration number "\u202e4321"');
 * // 'login failed for registration number "\\u{202E}4321"'
 * ```
 *
 * @param line The line, without its final newline.
 * @returns The line, on one line and safe to print.
 */
export function escapeLogLine(line: string): string {
  return escapeForTerminal(line, { newlines: false });
}
