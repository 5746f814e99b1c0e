/**
 * The undo journal on disk, as SQLite's rollback journal: before a commit
 * changes `history` or `result`, `journal` durably records what they were;
 * blanking the journal is the commit point; start-up, and any failed commit,
 * rolls a recorded journal back. The format lives with the other file
 * formats, in `lib/election/journal_format.ts`.
 *
 * The journal is always overwritten in place and never cut, and blanking
 * overwrites its content with spaces: a commit leaves no copy of earlier
 * totals in a freed disk block.
 *
 * @module
 */

import { ElectionFileError } from "../election/election_files.ts";
import {
  blankJournal,
  formatJournal,
  parseJournal,
} from "../election/journal_format.ts";
import type { Journal, JournalContent } from "../election/journal_format.ts";
import type { ElectionPaths } from "./election_dir.ts";
import { describeFsError, UnsafeFileError } from "./file_ops.ts";
import type { FileOps } from "./file_ops.ts";
import { plural } from "../terminal/plural.ts";

/**
 * Reads an election's journal without opening it for writing: what the
 * writer, `server report` and a wait for settled commits all see.
 *
 * @example
 * ```ts
 * import { electionPaths } from "./election_dir.ts";
 * import { denoFileOps } from "./file_ops.ts";
 *
 * const ops = denoFileOps();
 * try {
 *   const content = await readJournal(electionPaths("data"), ops);
 *   console.log(content.kind);
 * } finally {
 *   ops.close();
 * }
 * ```
 *
 * @param paths The election's paths.
 * @param ops File operations.
 * @returns Empty (also when there is no journal), torn, or a journal to
 * undo.
 * @throws {ElectionFileError} When it cannot be read or is foreign.
 * @throws {UnsafeFileError} When it is a link or not a regular file.
 */
export async function readJournal(
  paths: ElectionPaths,
  ops: FileOps,
): Promise<JournalContent> {
  const text = await journalFileCall(paths, () => ops.readText(paths.journal));
  return parseJournal(text ?? "", paths.journal);
}

/**
 * Runs one file operation on the journal, a file system error said as the
 * journal file's: an unsafe file (a link, not a regular file) is refused as
 * itself.
 */
async function journalFileCall<T>(
  paths: ElectionPaths,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof UnsafeFileError) throw error;
    throw new ElectionFileError(
      "journal file",
      paths.journal,
      describeFsError(error),
    );
  }
}

/** What a rollback undid, for the log: never a name or a choice. */
export interface Rollback {
  /** Whether the journal was torn (nothing else had changed yet). */
  torn: boolean;
  /** Bytes cut from the end of `history` (0 when nothing was appended). */
  historyBytesCut: number;
  /** Lines (votes) cut from the end of `history`. */
  votesUndone: number;
  /** Whether `history` was removed because the commit had created it. */
  historyRemoved: boolean;
  /** Whether `result` was restored to its text before the commit. */
  resultRestored: boolean;
}

/**
 * The journal file of one election, kept open by the store's one writer.
 * It remembers the file's length so that every write covers all of it.
 */
export class UndoJournal {
  readonly #paths: ElectionPaths;
  readonly #ops: FileOps;
  #bytes: number;
  #exists: boolean;
  // What the commit in progress recorded, until its blanking is durable: a
  // failed sync at the commit point leaves the blank text in the page cache,
  // and the rollback must not read that and undo nothing.
  #recorded: Journal | undefined;

  private constructor(paths: ElectionPaths, ops: FileOps, bytes?: number) {
    this.#paths = paths;
    this.#ops = ops;
    this.#bytes = bytes ?? 0;
    this.#exists = bytes !== undefined;
  }

  /**
   * Opens an election's journal (it may not exist yet).
   *
   * @param paths The election's paths.
   * @param ops File operations.
   * @returns The journal.
   * @throws {ElectionFileError} When it cannot be read (a directory).
   * @throws {UnsafeFileError} When it is a link or not a regular file.
   */
  static async open(paths: ElectionPaths, ops: FileOps): Promise<UndoJournal> {
    const bytes = await journalFileCall(paths, () => ops.size(paths.journal));
    return new UndoJournal(paths, ops, bytes);
  }

  /**
   * Reads what the journal holds.
   *
   * @returns Empty, torn, or a journal to undo.
   * @throws {ElectionFileError} When it cannot be read or is foreign.
   */
  read(): Promise<JournalContent> {
    return readJournal(this.#paths, this.#ops);
  }

  /**
   * Durably records what a commit is about to change.
   *
   * @param journal The old `history` length and `result` text.
   */
  async record(journal: Journal): Promise<void> {
    this.#recorded = journal;
    this.#write(formatJournal(journal, this.#bytes));
    await this.#ops.sync(this.#paths.journal);
  }

  /**
   * The commit point: overwrites the journal's content with spaces.
   */
  async blank(): Promise<void> {
    this.#write(blankJournal(this.#bytes));
    await this.#ops.sync(this.#paths.journal);
    if (!this.#exists) {
      this.#exists = true;
      await this.#ops.syncDir(this.#paths.dir);
    }
    this.#recorded = undefined;
  }

  /**
   * Undoes a commit that a crash or an I/O error left half done: restores
   * `history`'s length and `result`'s text from the journal, then blanks
   * it. After a failed commit in this process the journal is the one held
   * in memory, written again durably first (a failed blanking may have
   * left the file blank while `history` and `result` hold the vote). A
   * torn journal is simply blanked: it was being written when the crash
   * came, before anything else changed. A missing journal is created
   * blank, so that commits only ever overwrite it.
   *
   * @returns What was undone, or undefined when there was nothing to undo.
   * @throws {ElectionFileError} When `history` is shorter than the journal
   * says: the files were changed by hand, and only a backup can help.
   */
  async rollBack(): Promise<Rollback | undefined> {
    const recorded = this.#recorded;
    if (recorded !== undefined) await this.record(recorded);
    const content: JournalContent = recorded === undefined
      ? await this.read()
      : { kind: "valid", journal: recorded };
    let undone: Rollback | undefined;
    if (content.kind === "valid") {
      undone = await this.#undo(content.journal);
    } else if (content.kind === "torn") {
      undone = {
        torn: true,
        historyBytesCut: 0,
        votesUndone: 0,
        historyRemoved: false,
        resultRestored: false,
      };
    }
    if (content.kind !== "empty" || !this.#exists) await this.blank();
    return undone;
  }

  async #undo(journal: Journal): Promise<Rollback> {
    const ops = this.#ops;
    const paths = this.#paths;
    const undone: Rollback = {
      torn: false,
      historyBytesCut: 0,
      votesUndone: 0,
      historyRemoved: false,
      resultRestored: false,
    };
    const history = await ops.readText(paths.history);
    if (journal.historyBytes === null) {
      if (history !== undefined) {
        undone.historyRemoved = true;
        undone.votesUndone = countLines(history);
        await ops.remove(paths.history);
        await ops.syncDir(paths.dir);
      }
    } else {
      const bytes = new TextEncoder().encode(history ?? "");
      if (history === undefined || bytes.length < journal.historyBytes) {
        throw new ElectionFileError(
          "history file",
          paths.history,
          `it is shorter than the ${journal.historyBytes} bytes the journal recorded; restore the election from a backup`,
        );
      }
      if (bytes.length > journal.historyBytes) {
        const cut = bytes.subarray(journal.historyBytes);
        undone.historyBytesCut = cut.length;
        undone.votesUndone = countLines(new TextDecoder().decode(cut));
        ops.truncate(paths.history, journal.historyBytes);
        await ops.sync(paths.history);
      }
    }
    // Rewritten only if the commit got as far as changing it: on a full disk
    // the rollback must succeed without needing new space.
    if (await ops.readText(paths.result) !== journal.result) {
      undone.resultRestored = true;
      ops.overwrite(paths.result, journal.result);
      await ops.sync(paths.result);
    }
    return undone;
  }

  #write(text: string): void {
    this.#ops.overwrite(this.#paths.journal, text);
    this.#bytes = Math.max(this.#bytes, new TextEncoder().encode(text).length);
  }
}

/** Lines in a piece of `history`, counting a torn last line as one. */
function countLines(text: string): number {
  return text.split("\n").filter((line) => line !== "").length;
}

/**
 * Describes a rollback in one line for the log: what was undone, never who
 * or for whom.
 *
 * @param rollback What {@linkcode UndoJournal.rollBack} undid.
 * @returns E.g. `rolled back an interrupted vote: 1 vote (27 bytes) cut from history, result restored`.
 */
export function describeRollback(rollback: Rollback): string {
  if (rollback.torn) {
    return "discarded a journal torn while it was written (history and result were untouched)";
  }
  const parts: string[] = [];
  if (rollback.historyRemoved) {
    parts.push(
      `history (${
        plural(rollback.votesUndone, "vote")
      }) removed, as the interrupted commit had created it`,
    );
  } else if (rollback.historyBytesCut > 0) {
    parts.push(
      `${
        plural(rollback.votesUndone, "vote")
      } (${rollback.historyBytesCut} bytes) cut from history`,
    );
  } else {
    parts.push("history unchanged");
  }
  parts.push(
    rollback.resultRestored ? "result restored" : "result unchanged",
  );
  return `rolled back an interrupted vote: ${parts.join(", ")}`;
}
