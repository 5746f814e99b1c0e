/**
 * The election's `polls` file as a running server sees it: read at start;
 * then {@linkcode PollsFile.window} re-reads it at most once a second (the
 * menu's early answer), while {@linkcode PollsFile.current} checks it on
 * every call (the commit, which decides whether a vote counts, so that no
 * vote counts once `server close` has returned).
 *
 * @module
 */

import { ElectionFileError } from "../election/election_files.ts";
import { parsePolls } from "../election/polls.ts";
import {
  denoFileOps,
  describeFsError,
  lstatOrUndefined,
  UnsafeFileError,
} from "./file_ops.ts";
import type { FileOps } from "./file_ops.ts";
import type { PollsWindow } from "../election/polls.ts";

/** How often the file is re-read at most: the delay `server close` promises. */
export const POLLS_REFRESH_MS = 1000;

/** Options of {@linkcode PollsFile.load}. */
export interface PollsFileOptions {
  /** The clock deciding when the file is stale, in milliseconds. */
  nowMs?: () => number;
  /** Re-read the file at most this often (default {@linkcode POLLS_REFRESH_MS}). */
  refreshMs?: number;
  /**
   * Told, once per change of the file, that it became unreadable or
   * malformed and the last good window stays in force: the official learns
   * it from the server's log rather than from a vote that counted.
   */
  onUnreadable?: (error: Error) => void;
}

/**
 * Reads `polls`: a missing file means no limits. Like every election file
 * it is read only when it is a regular file, never through a link.
 *
 * @param path The file's path.
 * @param ops File operations (default: a fresh set, closed after).
 * @returns The window.
 * @throws {ElectionFileError} When the file is malformed or unreadable.
 * @throws {UnsafeFileError} When it is a link or not a regular file.
 */
export async function readPollsFile(
  path: string,
  ops?: FileOps,
): Promise<PollsWindow> {
  const own = ops ?? denoFileOps();
  let text: string | undefined;
  try {
    text = await own.readText(path);
  } catch (error) {
    if (error instanceof UnsafeFileError) throw error;
    throw new ElectionFileError("polls file", path, describeFsError(error));
  } finally {
    if (ops === undefined) own.close();
  }
  return text === undefined ? {} : parsePolls(text, path);
}

/**
 * The current polls window: {@linkcode PollsFile.window} refreshed from disk
 * at most once a second, {@linkcode PollsFile.current} checked on each call.
 */
export class PollsFile {
  readonly #path: string;
  readonly #nowMs: () => number;
  readonly #refreshMs: number;
  #window: PollsWindow;
  #readAtMs: number;
  #reading: Promise<PollsWindow> | undefined;
  /** The file's identity when the window was read, to notice a change. */
  #readStamp: string;
  /** The identity of the file last found unreadable, reported once. */
  #failedStamp: string | undefined;
  readonly #onUnreadable: PollsFileOptions["onUnreadable"];

  private constructor(
    path: string,
    window: PollsWindow,
    stamp: string,
    options: PollsFileOptions,
  ) {
    this.#path = path;
    this.#window = window;
    this.#readStamp = stamp;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#refreshMs = options.refreshMs ?? POLLS_REFRESH_MS;
    this.#onUnreadable = options.onUnreadable;
    this.#readAtMs = this.#nowMs();
  }

  /**
   * Reads the file once.
   *
   * @param path The `polls` file's path.
   * @param options Clock, refresh interval, and whom to tell about a file
   * that became unreadable.
   * @returns The watcher.
   * @throws {ElectionFileError} When the file is malformed: a server does
   * not start on a polls window it cannot read.
   */
  static async load(
    path: string,
    options: PollsFileOptions = {},
  ): Promise<PollsFile> {
    const stamp = fileStamp(path);
    return new PollsFile(path, await readPollsFile(path), stamp, options);
  }

  /**
   * The window as the file says right now: a `stat` per call, and a read
   * only when the file changed (`server close` replaces it, so its inode
   * changes). What decides whether a vote counts. A file that became
   * unreadable or malformed keeps the last good window, and is reported
   * to `onUnreadable` once until it changes again.
   *
   * @returns The window.
   */
  async current(): Promise<PollsWindow> {
    let stamp: string;
    try {
      stamp = fileStamp(this.#path);
    } catch {
      return this.#window;
    }
    if (stamp === this.#readStamp || stamp === this.#failedStamp) {
      return this.#window;
    }
    // Stamped before the read: a change during the read is seen next time.
    try {
      this.#window = await readPollsFile(this.#path);
      this.#readStamp = stamp;
      this.#failedStamp = undefined;
    } catch (error) {
      // Kept whatever went wrong: the commit must still get an answer.
      this.#failedStamp = stamp;
      this.#onUnreadable?.(error as Error);
    }
    return this.#window;
  }

  /**
   * The window, re-read from disk when the last read is older than the
   * refresh interval. A file that became unreadable or malformed keeps the
   * last good window, as in {@linkcode PollsFile.current}.
   *
   * @returns The window.
   */
  window(): Promise<PollsWindow> {
    if (this.#nowMs() - this.#readAtMs < this.#refreshMs) {
      return Promise.resolve(this.#window);
    }
    if (this.#reading) return this.#reading;
    // Stamped when the read starts: a read that began before a change and
    // ended after it must not make the old window look fresh.
    const startedMs = this.#nowMs();
    this.#reading = this.current().finally(() => {
      this.#readAtMs = startedMs;
      this.#reading = undefined;
    });
    return this.#reading;
  }
}

/** What identifies the file's content without reading it. */
function fileStamp(path: string): string {
  const info = lstatOrUndefined(path);
  return info === undefined
    ? "missing"
    : `${info.dev}:${info.ino}:${info.size}:${info.mtime?.getTime()}`;
}
