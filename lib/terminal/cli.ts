/**
 * What the server and client command lines share: flag parsing that turns
 * every mistake into one line and exit status 2, and number checks.
 *
 * @module
 */

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

/** What every flag has: its help text and an optional one-letter alias. */
export interface FlagDoc {
  /** What it does, for `--help`; `\n` starts a continuation line. */
  help: string;
  /** A one-letter alias, e.g. `h` for `-h`. */
  short?: string;
}

/** A switch: present or not. */
export interface BooleanFlag extends FlagDoc {
  type: "boolean";
  /**
   * Answered on its own, like `--help`: when given, the command reads no
   * other flag, so a required one may be missing.
   */
  alone?: true;
}

/** A text value, e.g. a path. */
export interface StringFlag extends FlagDoc {
  type: "string";
  /** The value's name in `--help`, e.g. `DIR`. */
  value: string;
  /** The value when the flag is absent. */
  default?: string;
  /** The command cannot do without it; shown as `(required)` in `--help`. */
  required?: true;
}

/** A whole number within bounds. */
export interface IntegerFlag extends FlagDoc {
  type: "integer";
  /** The value's name in `--help`, e.g. `SECONDS`. */
  value: string;
  /** The smallest value allowed. */
  min: number;
  /** The largest value allowed. */
  max: number;
  /** The value when the flag is absent. */
  default?: number;
}

/** One of a few words. */
export interface ChoiceFlag extends FlagDoc {
  type: "choice";
  /** The words allowed, shown as `a|b` in `--help`. */
  choices: readonly string[];
  /** The value when the flag is absent. */
  default?: string;
}

/** One flag of a command line: its type, default and help, in one place. */
export type FlagSpec = BooleanFlag | StringFlag | IntegerFlag | ChoiceFlag;

/** The flags a command takes, by long name without the dashes. */
export type FlagSpecs = Record<string, FlagSpec>;

/** The value one flag parses to, typed from its spec. */
export type FlagValue<F extends FlagSpec> = F extends BooleanFlag ? boolean
  : F extends { type: "integer"; default: number } ? number
  : F extends { type: "integer" } ? number | undefined
  : F extends { type: "choice"; choices: readonly (infer C)[]; default: string }
    ? C
  : F extends { type: "choice"; choices: readonly (infer C)[] } ? C | undefined
  : F extends { type: "string"; default: string } ? string
  : F extends { type: "string"; required: true } ? string
  : string | undefined;

/** The values of a command's flags, typed from its specs. */
export type FlagValues<S extends FlagSpecs> = {
  [K in keyof S]: FlagValue<S[K]>;
};

/**
 * Parses flags strictly: unknown flags, missing, empty or malformed values,
 * absent required flags and stray positional arguments are usage errors. A
 * flag given twice keeps its last value; an absent one takes its spec's
 * default. When a flag marked `alone` (such as `--help`) is given, required
 * flags are not asked for: the caller answers that flag and reads no other.
 *
 * @example
 * ```ts
 * const flags = parseFlags(["--port", "80"], {
 *   port: { type: "integer", value: "PORT", min: 1, max: 65535, default: 4443, help: "TCP port" },
 *   quiet: { type: "boolean", help: "log less" },
 * } as const);
 * // flags.port: 80 (a number), flags.quiet: false
 * ```
 *
 * @param args The arguments after the program (and subcommand).
 * @param specs The flags this command takes.
 * @returns The value of every flag in `specs`.
 * @throws {UsageError} On anything not in `specs` or not valid for it.
 */
export function parseFlags<S extends FlagSpecs>(
  args: string[],
  specs: S,
): FlagValues<S> {
  const given = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("-") || arg === "-") {
      throw new UsageError(`Unexpected argument "${arg}"`);
    }
    const [written, inline] = arg.startsWith("--")
      ? splitInline(arg)
      : [arg, undefined];
    const name = written.startsWith("--")
      ? written.slice(2)
      : Object.keys(specs).find((key) => `-${specs[key].short}` === written);
    const spec = name === undefined ? undefined : specs[name];
    if (
      name === undefined || spec === undefined || !Object.hasOwn(specs, name)
    ) {
      throw new UsageError(`Unknown option "${written}"`);
    }
    if (spec.type === "boolean") {
      if (inline !== undefined) {
        throw new UsageError(`Option "--${name}" does not take a value`);
      }
      given.set(name, true);
      continue;
    }
    const value = inline ?? args[i + 1];
    if (
      value === undefined || (inline === undefined && value.startsWith("--"))
    ) {
      throw new UsageError(`Option "--${name}" needs a value`);
    }
    if (inline === undefined) i++;
    given.set(name, value);
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const value = given.get(name);
    if (spec.type === "boolean") values[name] = value === true;
    else if (typeof value === "string") {
      values[name] = checkValue(name, spec, value);
    } else values[name] = spec.default;
  }
  const answeredAlone = Object.entries(specs).some(([name, spec]) =>
    spec.type === "boolean" && spec.alone && given.has(name)
  );
  const missing = Object.entries(specs).find(([name, spec]) =>
    spec.type === "string" && spec.required && !given.has(name)
  );
  if (missing && !answeredAlone) {
    throw new UsageError(`Option "--${missing[0]}" is required`);
  }
  return values as FlagValues<S>;
}

/** `--name=value` as name and value; `--name` as name alone. */
function splitInline(arg: string): [string, string | undefined] {
  const at = arg.indexOf("=");
  return at === -1 ? [arg, undefined] : [arg.slice(0, at), arg.slice(at + 1)];
}

function checkValue(
  name: string,
  spec: StringFlag | IntegerFlag | ChoiceFlag,
  value: string,
): string | number {
  switch (spec.type) {
    case "string":
      // An empty path or host only fails later, in words about something
      // else ("No election in /", "Cannot connect to :4443").
      if (value === "") {
        throw new UsageError(`Option "--${name}" needs a value, not ""`);
      }
      return value;
    case "integer":
      return integerFlag(`--${name}`, value, spec.min, spec.max);
    case "choice":
      if (!spec.choices.includes(value)) {
        const words = spec.choices.slice(0, -1).join(", ") + " or " +
          spec.choices.at(-1);
        throw new UsageError(
          `Option "--${name}" takes ${words}, not "${value}"`,
        );
      }
      return value;
  }
}

/**
 * The options part of a `--help` text, from the same specs
 * {@linkcode parseFlags} reads: each flag with its value's name, its help,
 * and its default, or `(required)`, at the end of the help's last line.
 *
 * @param specs The flags of a command, in the order to show them.
 * @returns Lines indented by two spaces, joined by newlines.
 */
export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const value = spec.type === "boolean"
      ? ""
      : spec.type === "choice"
      ? ` ${spec.choices.join("|")}`
      : ` ${spec.value}`;
    const label = `${spec.short ? `-${spec.short}, ` : ""}--${name}${value}`;
    const help = spec.help.split("\n");
    // At the end of the description, where a reader finishes it.
    if (spec.type !== "boolean" && spec.default !== undefined) {
      help[help.length - 1] += ` (default ${spec.default})`;
    }
    if (spec.type === "string" && spec.required) {
      help[help.length - 1] += " (required)";
    }
    return { label, help };
  });
  const width = Math.max(...rows.map((row) => row.label.length)) + 3;
  return rows.flatMap(({ label, help }) =>
    help.map((line, i) =>
      `  ${(i === 0 ? label : "").padEnd(width)}${line}`.trimEnd()
    )
  ).join("\n");
}

/** A flag's value as a whole number from `min` to `max`, or a usage error. */
function integerFlag(
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
