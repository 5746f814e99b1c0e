/**
 * The election's `polls` file as a running server sees it: read at start,
 * then re-read at most once a second when asked, so `server close` takes
 * effect on a running server within a second and a busy server still reads
 * the file at most once a second.
 *
 * @module
 */

import { ElectionFileError } from "../election/election_files.ts";
import { parsePolls } from "../election/polls.ts";
import { denoFileOps, describeFsError, UnsafeFileError } from "./file_ops.ts";
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

/** The current polls window, refreshed from disk at most once a second. */
export class PollsFile {
  readonly #path: string;
  readonly #nowMs: () => number;
  readonly #refreshMs: number;
  #window: PollsWindow;
  #readAtMs: number;
  #reading: Promise<PollsWindow> | undefined;

  private constructor(
    path: string,
    window: PollsWindow,
    options: PollsFileOptions,
  ) {
    this.#path = path;
    this.#window = window;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#refreshMs = options.refreshMs ?? POLLS_REFRESH_MS;
    this.#readAtMs = this.#nowMs();
  }

  /**
   * Reads the file once.
   *
   * @param path The `polls` file's path.
   * @param options Clock and refresh interval.
   * @returns The watcher.
   * @throws {ElectionFileError} When the file is malformed: a server does
   * not start on a polls window it cannot read.
   */
  static async load(
    path: string,
    options: PollsFileOptions = {},
  ): Promise<PollsFile> {
    return new PollsFile(path, await readPollsFile(path), options);
  }

  /**
   * The window, re-read from disk when the last read is older than the
   * refresh interval. A file that became unreadable or malformed keeps the
   * last good window (`server verify` reports the file).
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
    this.#reading = readPollsFile(this.#path).then(
      (window) => this.#window = window,
      () => this.#window,
    ).finally(() => {
      this.#readAtMs = startedMs;
      this.#reading = undefined;
    });
    return this.#reading;
  }
}
