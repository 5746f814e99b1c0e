/**
 * What the server and client command lines share: flag parsing that turns
 * every mistake into one line and exit status 2, and number checks.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { colorEnabled, paint } from "./colors.ts";
import type { Color } from "./colors.ts";

/** The booth's version, printed by `--version`. */
export const VERSION = "1.0.0";

/** Exit statuses, as the README documents them. */
export const ExitCode = {
  Ok: 0,
  /** A runtime problem: no election, unreadable file, connection failed... */
  Failure: 1,
  /** A bad flag or value. */
  Usage: 2,
  /** Interrupted with Ctrl-C. */
  Interrupted: 130,
} as const;

/** Thrown for a bad flag or value; the message is the whole line shown. */
export class UsageError extends Error {
  /**
   * @param message What is wrong, naming the flag or value.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A flag: a string value or a boolean switch, with an optional short alias. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
}

/**
 * Parses flags strictly: unknown flags, missing values and stray positional
 * arguments are usage errors.
 *
 * @param args The arguments after the program (and subcommand).
 * @param spec The flags this command takes.
 * @returns The values given, by flag name.
 * @throws {UsageError} On anything not in `spec`.
 */
export function parseFlags(
  args: string[],
  spec: Record<string, FlagSpec>,
): Record<string, string | boolean | undefined> {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: spec,
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > 0) {
      throw new UsageError(`Unexpected argument "${positionals[0]}"`);
    }
    return values as Record<string, string | boolean | undefined>;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(describeParseError(error as Error));
  }
}

function describeParseError(error: Error): string {
  const unknown = error.message.match(/Unknown option '([^']+)'/);
  if (unknown) return `Unknown option "${unknown[1]}"`;
  const missing = error.message.match(/Option '(?:-\w, )?(--[^ ']+)/);
  if (missing && /argument missing/.test(error.message)) {
    return `Option "${missing[1]}" needs a value`;
  }
  if (missing) return `Option "${missing[1]}" does not take a value`;
  return error.message.split("\n")[0];
}

/**
 * Reads a whole number from a flag's value.
 *
 * @param flag The flag's name, for the message, e.g. `--port`.
 * @param value The value given.
 * @param min The smallest value allowed.
 * @param max The largest value allowed.
 * @returns The number.
 * @throws {UsageError} When the value is not a whole number in range.
 */
export function integerFlag(
  flag: string,
  value: string,
  min: number,
  max: number,
): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(
      `Option "${flag}" takes a whole number from ${min} to ${max}, not "${value}"`,
    );
  }
  return Number(value);
}

/**
 * Writes one line to stderr, coloured on a terminal.
 *
 * @param line The line, without its newline.
 * @param color A colour for terminals (default red: it is an error).
 */
export function printError(line: string, color: Color | "none" = "red"): void {
  const text = color === "none"
    ? line
    : paint(line, color, colorEnabled(Deno.stderr));
  Deno.stderr.writeSync(new TextEncoder().encode(`${text}\n`));
}
