/**
 * The undo journal's format: what `journal` holds while a vote is being
 * committed. Pure functions over strings, like the other election files
 * (`election_files.ts`); the file store (`lib/store/journal.ts`) does the I/O.
 *
 * A journal is `<SHA-256 of the JSON, hex> <JSON>\n`, padded with spaces to
 * a whole number of {@linkcode JOURNAL_BLOCK_BYTES}: the file keeps one
 * length and is always overwritten in place, so that no earlier copy of the
 * totals is left behind in a freed disk block. A journal of spaces only (or
 * an empty file) records nothing. A torn write fails the checksum.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { ElectionFileError } from "./election_files.ts";

/** The journal's length is a multiple of this many bytes (one disk block). */
export const JOURNAL_BLOCK_BYTES = 4096;

/** What to restore if a commit does not finish. */
export interface Journal {
  /** Length of `history` before the commit; null when it did not exist. */
  historyBytes: number | null;
  /** The text of `result` before the commit. */
  result: string;
}

/** What a journal file holds. */
export type JournalContent =
  /** Nothing to undo: the last commit finished. */
  | { kind: "empty" }
  /** Torn by a crash while it was written, before anything else changed. */
  | { kind: "torn" }
  /** A commit that may be half done: undo it. */
  | { kind: "valid"; journal: Journal };

const encoder = new TextEncoder();

/**
 * Writes a journal, padded to fill at least `minBytes`.
 *
 * @example
 * ```ts
 * const text = formatJournal({ historyBytes: 27, result: "Chris 1\nLinda 0\n" }, 0);
 * // text.length === JOURNAL_BLOCK_BYTES
 * ```
 *
 * @param journal What to restore.
 * @param minBytes The file's current length, which the text must cover.
 * @returns The file's text: a whole number of blocks, at least `minBytes`.
 */
export function formatJournal(journal: Journal, minBytes: number): string {
  const body = JSON.stringify(journal);
  const text = `${sha256(body)} ${body}\n`;
  const bytes = encoder.encode(text).length;
  return text + " ".repeat(paddedLength(Math.max(bytes, minBytes)) - bytes);
}

/**
 * The journal that records nothing: spaces over the whole file, so the
 * previous content is overwritten rather than cut off.
 *
 * @param bytes The file's current length.
 * @returns `bytes` spaces.
 */
export function blankJournal(bytes: number): string {
  return " ".repeat(bytes);
}

/**
 * Reads a journal file.
 *
 * @param text The file's text (empty when the file is missing).
 * @param path The file's path, for error messages.
 * @returns Empty, torn or a journal to undo.
 * @throws {ElectionFileError} When the checksum holds but the content is
 * not a journal this booth wrote.
 */
export function parseJournal(text: string, path: string): JournalContent {
  const content = text.trimEnd();
  if (content === "") return { kind: "empty" };
  const space = content.indexOf(" ");
  const checksum = content.slice(0, space);
  const body = content.slice(space + 1);
  if (space !== 64 || sha256(body) !== checksum) return { kind: "torn" };
  let value: Partial<Journal> | undefined;
  try {
    value = JSON.parse(body);
  } catch {
    value = undefined;
  }
  if (
    typeof value !== "object" || value === null ||
    typeof value.result !== "string" ||
    !(value.historyBytes === null ||
      (Number.isSafeInteger(value.historyBytes) && value.historyBytes! >= 0))
  ) {
    throw new ElectionFileError(
      "journal file",
      path,
      "it is not a journal this booth wrote; restore the election from a backup",
    );
  }
  return {
    kind: "valid",
    journal: { historyBytes: value.historyBytes!, result: value.result },
  };
}

function paddedLength(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / JOURNAL_BLOCK_BYTES)) *
    JOURNAL_BLOCK_BYTES;
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
