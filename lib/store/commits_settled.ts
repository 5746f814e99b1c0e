/**
 * Waiting, from another process, until the running server has no commit
 * in flight: what `server close` and `server report` need before they can
 * say that the totals are final.
 *
 * The file store decides whether a vote counts only after its undo journal
 * is durable (`file_store.ts`), and reads `polls` afresh for that decision.
 * So once `polls` says the polls are closed, a blank journal seen afterwards
 * means every vote decided on an older `polls` is already committed, and
 * every later commit sees the closing.
 *
 * @module
 */

import type { ElectionPaths } from "./election_dir.ts";
import { denoFileOps } from "./file_ops.ts";
import { readJournal } from "./journal.ts";

/** Thrown when a running server's commit stays in flight too long. */
export class CommitInFlightError extends Error {
  /**
   * Creates the error.
   *
   * @param dir The election directory.
   * @param waitedMs How long the journal stayed recorded, in milliseconds.
   */
  constructor(dir: string, waitedMs: number) {
    super(
      `The server serving ${dir}/ has had a vote in flight for ${
        Math.round(waitedMs / 1000)
      } s: its disk may be failing; see its log`,
    );
    this.name = "CommitInFlightError";
  }
}

/** Options of {@linkcode waitForCommitsSettled}. */
export interface SettleOptions {
  /** Give up after this long, in milliseconds (default 60 s). */
  timeoutMs?: number;
  /** Pause between two looks at the journal, in milliseconds (default 10). */
  pollMs?: number;
}

/**
 * Resolves once no commit is in flight: the journal is blank, or no server
 * holds the election's lock (a journal left by a crash is then rolled back
 * by the next start, and counts for nothing).
 *
 * @example
 * ```ts
 * import { electionPaths } from "./election_dir.ts";
 * await waitForCommitsSettled(electionPaths("data"));
 * ```
 *
 * @param paths The election's paths.
 * @param options Timeout and polling interval.
 * @throws {CommitInFlightError} When a commit stays in flight past the
 * timeout.
 * @throws {ElectionFileError} When the journal cannot be read.
 * @throws {UnsafeFileError} When the journal is a link.
 */
export async function waitForCommitsSettled(
  paths: ElectionPaths,
  options: SettleOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const pollMs = options.pollMs ?? 10;
  const started = Date.now();
  for (;;) {
    const ops = denoFileOps();
    try {
      if ((await readJournal(paths, ops)).kind === "empty") return;
      if (await ops.lock(paths.dir)) return;
    } finally {
      ops.close();
    }
    const waited = Date.now() - started;
    if (waited >= timeoutMs) throw new CommitInFlightError(paths.dir, waited);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
