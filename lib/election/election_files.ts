/**
 * The election's files as text: parsing with line-numbered errors, and
 * formatting. Pure functions over strings; `lib/store.ts` does the I/O.
 *
 * | file | one line per | format |
 * | --- | --- | --- |
 * | `symkey` | file | base64 of K (32 bytes) |
 * | `passwords` | voter | `<name> <registration number> <base64(nonce ‖ ciphertext ‖ tag)>` |
 * | `candidates` | candidate | `<name>`, in ballot order |
 * | `result` | candidate | `<name> <total votes>`, in ballot order |
 * | `history` | vote | `<voter name> <ISO 8601 time with offset>` |
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { encodeBase64, SEALED_BYTES } from "./crypto.ts";
import { plural } from "../terminal/plural.ts";
import { toLatinLookAlikes } from "./latin_look_alikes.ts";

/** Longest voter name, registration number or candidate name. */
export const MAX_NAME_CHARS = 64;

/** A name, registration number or candidate: no whitespace, no controls. */
// deno-lint-ignore no-control-regex -- rejecting control characters is the point
const TOKEN = /^[^\s\x00-\x1f\x7f-\x9f]+$/;

/** 48 bytes of base64: 64 characters, no padding needed. */
const SEALED_BASE64 = /^[A-Za-z0-9+/]{64}$/;

/** ISO 8601 date and time with seconds and an explicit offset. */
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;

/**
 * Whether a text is an {@linkcode ISO_TIME} that names a real moment: the
 * pattern alone lets 2026-02-30 and 99:99:99 through, which `new Date`
 * rolls over or cannot read ("Invalid time value" later, mid-session).
 */
function isIsoTime(text: string): boolean {
  const match = ISO_TIME.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(
    Number,
  );
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  const offsetOk = match[8] === "Z" ||
    (Number(match[9]) < 24 && Number(match[10]) < 60);
  return month >= 1 && month <= 12 && day >= 1 && day <= days[month - 1] &&
    hour < 24 && minute < 60 && second < 60 && offsetOk;
}

/** A voter with a password in clear, as `server init` seals it. */
export interface RollEntry {
  /** The voter's name: no whitespace. */
  name: string;
  /** The voter registration number: no whitespace. */
  number: string;
  /** The password, in clear: only `server init` reads it. */
  password: string;
}

/**
 * A line of the voter roll given to `server init --voters`: the password is
 * absent when the booth is to generate one.
 */
export interface RollLine {
  /** The voter's name: no whitespace. */
  name: string;
  /** The voter registration number: no whitespace. */
  number: string;
  /** The password in clear, when the roll gives one. */
  password?: string;
}

/** A line of `passwords`. */
export interface VoterEntry {
  /** The voter's name. */
  name: string;
  /** The voter registration number. */
  number: string;
  /** The decoded encrypted password: nonce ‖ ciphertext ‖ tag. */
  sealed: Uint8Array;
  /** 1-based line number in the file. */
  line: number;
}

/** A line of `history`. */
export interface HistoryEntry {
  /** The voter's name. */
  name: string;
  /** When the vote was recorded, ISO 8601 with an offset. */
  time: string;
  /** 1-based line number in the file. */
  line: number;
}

/** Thrown when an election file (or a voter roll) cannot be read. */
export class ElectionFileError extends Error {
  /** The file's path as the user gave it. */
  readonly path: string;
  /** The 1-based line at fault, when there is one. */
  readonly line?: number;

  /**
   * Creates the error, naming the file.
   *
   * @param what The kind of file, e.g. `voter file`.
   * @param path The file's path.
   * @param detail What is wrong, e.g. `line 4 has 2 fields`.
   * @param line The line at fault.
   */
  constructor(what: string, path: string, detail: string, line?: number) {
    super(`Cannot read ${what} "${path}": ${detail}`);
    this.name = "ElectionFileError";
    this.path = path;
    this.line = line;
  }
}

/** Thrown by {@linkcode decodeText} for bytes that are not UTF-8. */
export class NotUtf8Error extends Error {
  /** The 1-based line holding the first byte that is not UTF-8. */
  readonly line: number;

  /**
   * Creates the error for a line.
   *
   * @param line The 1-based line.
   */
  constructor(line: number) {
    super(`line ${line} is not UTF-8 text`);
    this.name = "NotUtf8Error";
    this.line = line;
  }
}

/**
 * Decodes a file's bytes as UTF-8, refusing any that are not: a lenient
 * decoder would turn them into U+FFFD and quietly change a name.
 *
 * @example
 * ```ts
 * decodeText(new TextEncoder().encode("Zoë 1123456\n")); // "Zoë 1123456\n"
 * ```
 *
 * @param bytes The file's bytes.
 * @returns The text.
 * @throws {NotUtf8Error} Naming the first line that is not UTF-8.
 */
export function decodeText(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // Only on failure: find the line, one line at a time.
    const line = new TextDecoder("utf-8", { fatal: true });
    let number = 1;
    let start = 0;
    for (let end = 0; end <= bytes.length; end++) {
      if (end < bytes.length && bytes[end] !== 0x0a) continue;
      try {
        line.decode(bytes.subarray(start, end));
      } catch {
        throw new NotUtf8Error(number);
      }
      number++;
      start = end + 1;
    }
    throw new NotUtf8Error(number - 1);
  }
}

/**
 * Splits a file into numbered lines; a final newline ends the last line
 * rather than starting an empty one.
 *
 * @param text The file's text.
 * @returns `[lineNumber, line]` pairs, 1-based, carriage returns removed.
 */
export function numberedLines(text: string): [number, string][] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((line, index) => [index + 1, line.replace(/\r$/, "")]);
}

/**
 * Reads a voter roll for `server init --voters`: `<name> <registration
 * number> [<password>]` per line, the password left out where the booth is
 * to generate one; blank lines and `#` comments are ignored.
 *
 * @example
 * ```ts
 * parseVoterRoll("Alice 1123456 1234\nBob 1138765\n", "roll.txt");
 * // [{ name: "Alice", number: "1123456", password: "1234" },
 * //  { name: "Bob", number: "1138765" }]
 * ```
 *
 * @param text The roll's text.
 * @param path The roll's path, for error messages.
 * @returns The voters in file order.
 * @throws {ElectionFileError} On a malformed line or name, or a repeated
 * name (two names a reader would take for one, see {@linkcode nameSkeleton})
 * or number, naming the line.
 */
export function parseVoterRoll(text: string, path: string): RollLine[] {
  const fail = (detail: string, line: number) =>
    new ElectionFileError("voter roll", path, detail, line);
  const entries: RollLine[] = [];
  const seen = new Uniqueness(nameSkeleton);
  // Lean on purpose: a roll may hold 1,000,000 voters. Lines are scanned in
  // place, and a line of printable ASCII fields split by single spaces (the
  // common case) takes a fast path that allocates only its fields; such
  // names need no look-alike checks (see misleadingNameProblem).
  let line = 0;
  for (let start = 0; start < text.length;) {
    line++;
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    const raw = text.charCodeAt(end - 1) === 13 && end > start
      ? text.slice(start, end - 1)
      : text.slice(start, end);
    start = end + 1;
    const fields = PLAIN_ROLL_LINE.test(raw)
      ? raw.split(" ")
      : generalFields(raw, line, fail);
    if (fields === undefined) continue;
    const [name, number, password] = fields;
    seen.claim(name, number, line, fail);
    entries.push(
      password === undefined ? { name, number } : {
        name,
        number,
        password,
      },
    );
  }
  if (entries.length === 0) {
    throw new ElectionFileError("voter roll", path, "it lists no voters");
  }
  return entries;
}

/**
 * A roll line of two or three fields of printable ASCII split by single
 * spaces, none longer than {@linkcode MAX_NAME_CHARS}, the first not a
 * comment: valid as it stands.
 */
const PLAIN_ROLL_LINE = new RegExp(
  `^[\\x21-\\x22\\x24-\\x7e][\\x21-\\x7e]{0,${
    MAX_NAME_CHARS - 1
  }}(?: [\\x21-\\x7e]{1,${MAX_NAME_CHARS}}){1,2}$`,
);

/** Any other roll line: blank, a comment, or fields that need checking. */
function generalFields(
  raw: string,
  line: number,
  fail: (detail: string, line: number) => Error,
): string[] | undefined {
  const content = raw.trim();
  if (content === "" || content.startsWith("#")) return undefined;
  const fields = content.split(/\s+/);
  if (fields.length !== 2 && fields.length !== 3) {
    throw fail(
      `line ${line} has ${
        plural(fields.length, "field")
      } (expected <name> <registration number> [<password>])`,
      line,
    );
  }
  checkToken("name", fields[0], line, fail);
  checkToken("registration number", fields[1], line, fail);
  return fields;
}

/**
 * Reads `passwords`: `<name> <registration number> <encrypted password>`.
 *
 * @param text The file's text.
 * @param path The file's path, for error messages.
 * @returns The entries in file order.
 * @throws {ElectionFileError} On a malformed line or a repeated name or
 * number, naming the line.
 */
export function parsePasswords(text: string, path: string): VoterEntry[] {
  const fail = (detail: string, line: number) =>
    new ElectionFileError("voter file", path, detail, line);
  const entries: VoterEntry[] = [];
  // By nameKey, not nameSkeleton: an election created before the look-alike
  // check must still start.
  const seen = new Uniqueness(nameKey);
  // Lean on purpose: at 100,000 voters this runs at every start, so lines
  // are scanned in place and every encrypted password is decoded into one
  // shared buffer rather than one allocation each.
  const pool = new Uint8Array(SEALED_BYTES * (countLines(text) + 1));
  let line = 0;
  for (let start = 0; start < text.length; line++) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    const content = text.charCodeAt(end - 1) === 13
      ? text.slice(start, end - 1)
      : text.slice(start, end);
    start = end + 1;
    const first = content.indexOf(" ");
    const second = content.indexOf(" ", first + 1);
    if (first < 0 || second < 0 || content.indexOf(" ", second + 1) >= 0) {
      throw fail(
        `line ${line + 1} has ${plural(content.split(" ").length, "field")}`,
        line + 1,
      );
    }
    const name = content.slice(0, first);
    const number = content.slice(first + 1, second);
    const encoded = content.slice(second + 1);
    checkToken("name", name, line + 1, fail);
    checkToken("registration number", number, line + 1, fail);
    const sealed = pool.subarray(
      line * SEALED_BYTES,
      (line + 1) * SEALED_BYTES,
    );
    if (!SEALED_BASE64.test(encoded)) {
      throw fail(
        `line ${
          line + 1
        } has an encrypted password that is not ${SEALED_BYTES} bytes of base64`,
        line + 1,
      );
    }
    sealed.set(Buffer.from(encoded, "base64"));
    seen.claim(name, number, line + 1, fail);
    entries.push({ name, number, sealed, line: line + 1 });
  }
  if (entries.length === 0) {
    throw new ElectionFileError("voter file", path, "it lists no voters");
  }
  return entries;
}

function countLines(text: string): number {
  let count = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) {
    count++;
  }
  return count;
}

/**
 * Writes `passwords`, the sealed entries in base64.
 *
 * @param entries Each voter with E(K, H(password)) as bytes.
 * @returns The file's text.
 */
export function formatPasswords(
  entries: { name: string; number: string; sealed: Uint8Array }[],
): string {
  return entries.map((e) => `${e.name} ${e.number} ${encodeBase64(e.sealed)}\n`)
    .join("");
}

/**
 * Reads `candidates`: one name per line, in ballot order.
 *
 * @param text The file's text.
 * @param path The file's path, for error messages.
 * @returns The candidates in ballot order.
 * @throws {ElectionFileError} On a malformed or repeated name, or none.
 */
export function parseCandidates(text: string, path: string): string[] {
  // By nameKey, not nameSkeleton: an election created before the look-alike
  // check must still start.
  const candidates = candidateNames(
    numberedLines(text),
    "line",
    (detail, line) =>
      new ElectionFileError("candidates file", path, detail, line),
    nameKey,
  );
  if (candidates === undefined) {
    throw new ElectionFileError(
      "candidates file",
      path,
      "it lists no candidates",
    );
  }
  return candidates;
}

/** A `--candidates` list refused, naming the item at fault. */
export class CandidateListError extends Error {
  /** The 1-based position in the list of the item at fault. */
  readonly item: number;

  /**
   * Creates the error.
   *
   * @param detail What is wrong, e.g. `item 2 repeats candidate "Chris"`.
   * @param item The item at fault.
   */
  constructor(detail: string, item: number) {
    super(`Option "--candidates": ${detail}`);
    this.name = "CandidateListError";
    this.item = item;
  }
}

/**
 * Checks a candidate list given on the command line (`--candidates`), by
 * the rules of the candidates file; a fault is named by its item, the
 * list having no lines.
 *
 * @example
 * ```ts
 * parseCandidateList("Chris,Linda"); // ["Chris", "Linda"]
 * ```
 *
 * @param list Comma-separated names, e.g. `Chris,Linda`.
 * @returns The names in ballot order.
 * @throws {CandidateListError} When a name is empty, malformed or repeated.
 */
export function parseCandidateList(list: string): string[] {
  const items = list.split(",").map((name, i): [number, string] => [
    i + 1,
    name,
  ]);
  // A split yields at least one item, so the list is never empty.
  return candidateNames(
    items,
    "item",
    (detail, item) => new CandidateListError(detail, item),
    nameSkeleton,
  )!;
}

/**
 * The ballot from numbered names: each valid and none repeated (compared
 * by `key`); undefined when there are none.
 */
function candidateNames(
  items: [number, string][],
  unit: "line" | "item",
  fail: (detail: string, at: number) => Error,
  key: (name: string) => string,
): string[] | undefined {
  const candidates: string[] = [];
  const seen = new Map<string, number>();
  for (const [at, name] of items) {
    checkToken("candidate name", name, at, fail, unit);
    const nameAs = key(name);
    const earlier = seen.get(nameAs);
    if (earlier !== undefined) {
      throw fail(
        `${unit} ${at} repeats candidate "${candidates[earlier - 1]}"${
          repeatedAs(candidates[earlier - 1], name)
        }`,
        at,
      );
    }
    seen.set(nameAs, candidates.push(name));
  }
  return candidates.length === 0 ? undefined : candidates;
}

/**
 * Writes `candidates`.
 *
 * @param candidates Names in ballot order.
 * @returns The file's text.
 */
export function formatCandidates(candidates: readonly string[]): string {
  return candidates.map((name) => `${name}\n`).join("");
}

/**
 * Reads `result`: `<candidate> <total votes>` for every candidate, in ballot
 * order.
 *
 * @param text The file's text.
 * @param path The file's path, for error messages.
 * @param candidates The ballot, from `candidates`.
 * @returns The totals, index-aligned with `candidates`.
 * @throws {ElectionFileError} On a malformed line, or when the file and the
 * ballot disagree.
 */
export function parseResult(
  text: string,
  path: string,
  candidates: readonly string[],
): number[] {
  const fail = (detail: string, line?: number) =>
    new ElectionFileError("result file", path, detail, line);
  const lines = numberedLines(text);
  const totals: number[] = [];
  for (const [line, content] of lines) {
    const fields = content.split(" ");
    if (fields.length !== 2 || !/^(0|[1-9]\d{0,14})$/.test(fields[1])) {
      throw fail(`line ${line} is not "<candidate> <total votes>"`, line);
    }
    const expected = candidates[line - 1];
    if (fields[0] !== expected) {
      throw fail(
        expected === undefined
          ? `line ${line} names "${fields[0]}", who is not in candidates`
          : `line ${line} names "${
            fields[0]
          }" where candidates has "${expected}"`,
        line,
      );
    }
    totals.push(Number(fields[1]));
  }
  if (totals.length !== candidates.length) {
    throw fail(
      `it has ${totals.length} candidates where candidates has ${candidates.length}`,
    );
  }
  return totals;
}

/**
 * Writes `result`.
 *
 * @param candidates Names in ballot order.
 * @param totals Votes per candidate, index-aligned.
 * @returns The file's text.
 */
export function formatResult(
  candidates: readonly string[],
  totals: readonly number[],
): string {
  return candidates.map((name, i) => `${name} ${totals[i]}\n`).join("");
}

/**
 * Reads `history`: `<voter name> <time of the vote>` per line.
 *
 * @param text The file's text.
 * @param path The file's path, for error messages.
 * @returns The entries in file order.
 * @throws {ElectionFileError} On a malformed line (an impossible date or
 * time included), or a last line without its newline.
 */
export function parseHistory(text: string, path: string): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  const numbered = numberedLines(text);
  // The next vote is appended after the last byte: without its newline, two
  // votes would share a line and the server would refuse to start.
  if (text !== "" && !text.endsWith("\n")) {
    throw new ElectionFileError(
      "history file",
      path,
      `line ${numbered.length} does not end with a newline`,
      numbered.length,
    );
  }
  for (const [line, content] of numbered) {
    const fields = content.split(" ");
    if (
      fields.length !== 2 || !TOKEN.test(fields[0]) || !isIsoTime(fields[1])
    ) {
      throw new ElectionFileError(
        "history file",
        path,
        `line ${line} is not "<voter name> <ISO 8601 time>"`,
        line,
      );
    }
    entries.push({ name: fields[0], time: fields[1], line });
  }
  return entries;
}

/**
 * One `history` line, without its newline.
 *
 * @example
 * ```ts
 * historyLine("Alice", new Date("2026-11-26T03:40:12.345Z"));
 * // "Alice 2026-11-26T03:40:12Z"
 * ```
 *
 * @param name The voter's name.
 * @param time When the vote was recorded.
 * @returns `<name> <time>`, the time in UTC to the second.
 */
export function historyLine(name: string, time: Date): string {
  return `${name} ${time.toISOString().replace(/\.\d{3}Z$/, "Z")}`;
}

/**
 * Characters that print as nothing or as something else (ASCII is fine):
 * controls, format characters, lone surrogates, private-use and unassigned
 * code points, line and paragraph separators, and every Unicode
 * Default_Ignorable_Code_Point (variation selectors such as U+FE00, the
 * combining grapheme joiner U+034F, fillers such as U+3164), which a
 * terminal or a font may draw as nothing.
 */
const INVISIBLE =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

/**
 * Scripts whose letters look alike (Latin `i` and Cyrillic `і`, Latin `o`
 * and Greek `ο`): a name mixing two of them is a look-alike of a name in
 * one.
 */
const CONFUSABLE_SCRIPTS = [
  ["Latin", /\p{Script=Latin}/u],
  ["Cyrillic", /\p{Script=Cyrillic}/u],
  ["Greek", /\p{Script=Greek}/u],
] as const;

/** Printable ASCII without the space: no further check needed. */
const PLAIN_ASCII = /^[\x21-\x7e]*$/;

/**
 * Why a name (of a voter or a candidate) or a registration number would
 * mislead whoever reads it, or undefined when it is fine. Refused: control
 * and format characters (a zero-width space makes `Chris` and `Chris\u200b`
 * look the same; a right-to-left override makes text read backwards),
 * private-use, unassigned and lone surrogate code points, default-ignorable
 * code points (`Chris\ufe00` and `Chris\u3164` look like `Chris`), text
 * not in Unicode NFC (the same letters spelled with other code points), and
 * a name mixing Latin, Cyrillic and Greek letters (`Chr\u0456s`, with a
 * Cyrillic `і`, looks like `Chris`). A name wholly in another script that
 * looks like a Latin one is fine alone; two such names on one ballot or roll
 * are refused by comparing their {@linkcode nameSkeleton}.
 *
 * @example
 * ```ts
 * misleadingNameProblem("Chris"); // undefined
 * misleadingNameProblem("Chris\u200b"); // 'it holds the invisible character U+200B'
 * ```
 *
 * @param value The name as read.
 * @returns What is wrong with it, to follow "has an invalid name: ".
 */
export function misleadingNameProblem(value: string): string | undefined {
  if (PLAIN_ASCII.test(value)) return undefined;
  const invisible = value.match(INVISIBLE);
  if (invisible) {
    const code = invisible[0].codePointAt(0)!;
    return `it holds the invisible or control character U+${
      code.toString(16).toUpperCase().padStart(4, "0")
    }`;
  }
  if (value.normalize("NFC") !== value) {
    return "it is not in Unicode NFC (normalise the file to NFC)";
  }
  const scripts = CONFUSABLE_SCRIPTS.filter(([, letters]) =>
    letters.test(value)
  );
  if (scripts.length > 1) {
    return `it mixes ${
      scripts.map(([script]) => script).join(" and ")
    } letters, which look alike`;
  }
  return undefined;
}

/**
 * The form under which two names count as the same: NFKC with case folding
 * (`Alice`, `ALICE` and the full-width `Ａｌｉｃｅ` are one name). A stored
 * election's files are checked by it; a new ballot or roll by the stricter
 * {@linkcode nameSkeleton}, which also takes `Сһгіѕ` for `Chris`.
 *
 * @example
 * ```ts
 * nameKey("ALICE") === nameKey("alice"); // true
 * ```
 *
 * @param name A name that passed {@linkcode misleadingNameProblem}.
 * @returns The comparison key.
 */
export function nameKey(name: string): string {
  if (PLAIN_ASCII.test(name)) return name.toLowerCase();
  // JavaScript has no full case folding; upper then lower case folds the
  // cases it misses in one direction (ß and SS, ς and σ), NFKC again
  // settles what case mapping unsettled.
  return name.normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC");
}

/**
 * The form under which two names of one list look the same to a reader:
 * {@linkcode nameKey} after each Cyrillic or Greek letter that looks like a
 * Latin one is made that Latin letter (see {@linkcode toLatinLookAlikes}), in
 * the spirit of Unicode UTS #39's skeleton, so the all-Cyrillic `Сһгіѕ` and
 * `Chris` are one name on a ballot or a roll. Only for refusing such pairs
 * in a new list: a voter's typed name is still looked up by
 * {@linkcode nameKey}.
 *
 * @example
 * ```ts
 * nameSkeleton("\u0421\u04bb\u0433\u0456\u0455") === nameSkeleton("Chris"); // true
 * nameSkeleton("Алексей") === nameSkeleton("Alexei"); // false
 * ```
 *
 * @param name A name that passed {@linkcode misleadingNameProblem}.
 * @returns The comparison key.
 */
export function nameSkeleton(name: string): string {
  if (PLAIN_ASCII.test(name)) return name.toLowerCase();
  // NFKD first: an accented Cyrillic letter (`ё`) is then its base letter
  // and a mark, and looks like the Latin letter with that mark (`ë`).
  return nameKey(toLatinLookAlikes(name.normalize("NFKD")));
}

/**
 * A value for an error message: control and format characters shown as
 * `\u{...}` escapes, so a message never moves the cursor or reverses text.
 */
function shown(value: string): string {
  return value.replace(
    new RegExp(INVISIBLE.source, "gu"),
    (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`,
  );
}

function checkToken(
  what: string,
  value: string,
  line: number,
  fail: (detail: string, line: number) => Error,
  unit: "line" | "item" = "line",
): void {
  if (!TOKEN.test(value) || value.length > MAX_NAME_CHARS) {
    throw fail(
      `${unit} ${line} has an invalid ${what} "${
        shown(value)
      }" (1 to ${MAX_NAME_CHARS} characters, no spaces)`,
      line,
    );
  }
  const problem = misleadingNameProblem(value);
  if (problem !== undefined) {
    throw fail(
      `${unit} ${line} has an invalid ${what} "${shown(value)}": ${problem}`,
      line,
    );
  }
}

/**
 * How a repeated name is told apart from the first in a refusal: nothing
 * when spelt the same, `as "<name>"` when another case or width, and which
 * look the same when letters of another script make it a look-alike.
 */
function repeatedAs(first: string, repeat: string): string {
  if (first === repeat) return "";
  if (nameKey(first) === nameKey(repeat)) return ` as "${repeat}"`;
  return ` as "${repeat}", which looks the same`;
}

/**
 * Names (compared by the key given) and registration numbers must each be
 * unique within a roll.
 */
class Uniqueness {
  #names = new Map<string, { line: number; name: string }>();
  #numbers = new Map<string, number>();
  #key: (name: string) => string;

  constructor(key: (name: string) => string) {
    this.#key = key;
  }

  claim(
    name: string,
    number: string,
    line: number,
    fail: (detail: string, line: number) => Error,
  ): void {
    const key = this.#key(name);
    const earlier = this.#names.get(key);
    if (earlier !== undefined) {
      throw fail(
        `line ${line} repeats the name "${earlier.name}" of line ${earlier.line}${
          repeatedAs(earlier.name, name)
        }`,
        line,
      );
    }
    // V8 hashes a string that reads as an array index ("3000000") by its
    // value, and a million consecutive registration numbers then collide in
    // a Map: a 1,000,000-line parse loop took 22.4 s, 6.6 s with a prefix
    // (4.1 s with no Map of numbers). No number holds a space.
    const numberKey = ` ${number}`;
    const numberLine = this.#numbers.get(numberKey);
    if (numberLine !== undefined) {
      throw fail(
        `line ${line} repeats the registration number "${number}" of line ${numberLine}`,
        line,
      );
    }
    this.#names.set(key, { line, name });
    this.#numbers.set(numberKey, line);
  }
}
