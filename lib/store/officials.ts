/**
 * The election official's changes to an election outside `init`: a voter's
 * new password (`server passwd`) and the closing of the polls (`server
 * close`). Store-shaped functions over the election directory, so that a
 * second store (PostgreSQL) can offer the same.
 *
 * @module
 */

import type { RegisteredVoter } from "../election/booth.ts";
import { encodeBase64, sealPassword } from "../election/crypto.ts";
import {
  ElectionFileError,
  parseHistory,
  parsePasswords,
} from "../election/election_files.ts";
import {
  closedWindow,
  closingProblem,
  formatPolls,
} from "../election/polls.ts";
import type { PollsWindow } from "../election/polls.ts";
import {
  denoFileOps,
  describeFsError,
  replaceFileDurably,
} from "./file_ops.ts";
import type { FileOps } from "./file_ops.ts";
import { readPollsFile } from "./polls_file.ts";
import {
  electionPaths,
  lockElection,
  NoElectionError,
  refuseMovedElection,
} from "./election_dir.ts";
import { readElectionKey } from "./election_state.ts";
import { waitForCommitsSettled } from "./commits_settled.ts";

/** Thrown when an official's command names a voter the roll does not hold. */
export class UnknownVoterError extends Error {
  /**
   * Creates the error.
   *
   * @param name The name given.
   * @param path The voter file searched.
   */
  constructor(name: string, path: string) {
    super(`No voter named "${name}" in "${path}"`);
    this.name = "UnknownVoterError";
  }
}

/** Thrown when `server close` may not set the closing time asked for. */
export class ClosingRefusedError extends Error {
  /**
   * Creates the error.
   *
   * @param where Where the election is: `data/` or `the database "..."`.
   * @param problem Why, e.g. `the polls closed already, at "..."`.
   */
  constructor(where: string, problem: string) {
    super(`Cannot close the polls in ${where}: ${problem}`);
    this.name = "ClosingRefusedError";
  }
}

/** Options of {@linkcode changeVoterPassword}. */
export interface ChangePasswordOptions {
  /**
   * Hands the new password to the official (prints it, appends it to a
   * file) once the voter is found and before it replaces the old one: if
   * this throws, nothing changes, and a password nobody saw never locks a
   * voter out.
   */
  deliver?: (voter: Pick<RegisteredVoter, "name" | "number">) => Promise<void>;
  /**
   * How long to wait for the election's lock while another official's
   * command holds it (default 2000 ms); a server holds it for good.
   */
  lockWaitMs?: number;
  /** File operations (tests substitute their own). */
  ops?: FileOps;
}

/**
 * `server passwd`: replaces one voter's encrypted password in `passwords`.
 * Refused while a server serves the election, which holds the voter file in
 * memory and would go on accepting the old password. The voter file is read
 * under the election's lock, so two `passwd` at once both take effect.
 *
 * @param dir The election directory.
 * @param name The voter's name, exactly as in the roll.
 * @param password The new password in clear.
 * @param options Where the password goes first, the lock wait, file
 * operations.
 * @returns The voter whose password changed.
 * @throws {NoElectionError} When `dir` holds no election.
 * @throws {ElectionLockedError} While a server serves the election.
 * @throws {ElectionMovedError} When it was moved into a database.
 * @throws {UnknownVoterError} When no voter has that name.
 * @throws {ElectionFileError} When a file is missing or malformed.
 * @throws {Error} What `deliver` throws (nothing changed then).
 */
export async function changeVoterPassword(
  dir: string,
  name: string,
  password: string,
  options: ChangePasswordOptions = {},
): Promise<Pick<RegisteredVoter, "name" | "number">> {
  const ops = options.ops ?? denoFileOps();
  const paths = electionPaths(dir);
  try {
    if (
      await readElectionFile(ops, paths.passwords, "voter file") === undefined
    ) {
      throw new NoElectionError(dir);
    }
    await lockElection(paths, ops, {
      waitMs: options.lockWaitMs ?? PASSWD_LOCK_WAIT_MS,
    });
    await refuseMovedElection(paths);
    const text = await readElectionFile(ops, paths.passwords, "voter file");
    if (text === undefined) throw new NoElectionError(dir);
    const key = await readElectionKey(dir);
    const voter = parsePasswords(text, paths.passwords).find((v) =>
      v.name === name
    );
    if (voter === undefined) {
      throw new UnknownVoterError(name, paths.passwords);
    }
    const changed = { name: voter.name, number: voter.number };
    await options.deliver?.(changed);
    const lines = text.split("\n");
    lines[voter.line - 1] = `${voter.name} ${voter.number} ${
      encodeBase64(sealPassword(key, voter, password))
    }`;
    await replaceFileDurably(ops, paths.passwords, lines.join("\n"));
    return changed;
  } finally {
    ops.close();
  }
}

/**
 * How long `passwd` waits for another official's command to release the
 * election: one `passwd` holds it for milliseconds.
 */
const PASSWD_LOCK_WAIT_MS = 2000;

/**
 * Where an election keeps its polls window, as `server close` changes it:
 * the `polls` file or the database's `booth.election` row.
 */
export interface PollsKeeper {
  /** Where the election is, for messages: `data/` or `the database "..."`. */
  readonly where: string;
  /**
   * The window in force.
   *
   * @returns The window.
   * @throws {Error} When it cannot be read.
   */
  read(): Promise<PollsWindow>;
  /**
   * Stores a new window durably; every commit from then on judges by it.
   *
   * @param window The window.
   * @throws {Error} When it cannot be written.
   */
  write(window: PollsWindow): Promise<void>;
  /**
   * Waits until no commit decided on an older window is still in flight.
   *
   * @throws {CommitInFlightError} When a commit does not end in time.
   */
  settle(): Promise<void>;
  /**
   * The latest committed vote's time.
   *
   * @returns Milliseconds since the epoch, or undefined before any vote.
   */
  lastVoteTime(): Promise<number | undefined>;
  /**
   * The time on the clock that commits are judged by (the database's for a
   * database election), so that a closing is never judged on another.
   *
   * @returns Milliseconds since the epoch.
   */
  now(): Promise<number>;
}

/**
 * `server close`: sets the closing time, a running server or not. When the
 * closing time has come this waits until no commit is in flight, so that
 * once this returns no vote counts any more and the totals are final.
 *
 * A vote a server decided on the old window in the moment this took to
 * write the new one is recorded at a time after the closing time asked
 * for; the closing time then becomes the moment just after that vote, so
 * that `history` and the polls agree (`server verify`).
 *
 * @param keeper Where the window lives.
 * @param closesAt The closing time.
 * @param now The current time on the keeper's clock ({@linkcode PollsKeeper.now}).
 * @returns The window now in force.
 * @throws {ClosingRefusedError} When the polls closed already, or the time
 * is in the past. A time at or before the opening closes the election
 * before it opens: the polls never open.
 * @throws {CommitInFlightError} When a commit does not end in time.
 */
export async function closePolls(
  keeper: PollsKeeper,
  closesAt: Date,
  now: Date,
): Promise<PollsWindow & { closesAt: Date }> {
  const window = await keeper.read();
  const problem = closingProblem(window, closesAt, now);
  if (problem !== undefined) {
    throw new ClosingRefusedError(keeper.where, problem);
  }
  let closed = closedWindow(window, closesAt);
  for (;;) {
    await keeper.write(closed);
    // A closing in the future: the servers and `server report` see it when
    // it comes.
    if (await keeper.now() < closed.closesAt.getTime()) return closed;
    await keeper.settle();
    const last = await keeper.lastVoteTime();
    if (last === undefined || last < closed.closesAt.getTime()) return closed;
    // `history` keeps whole seconds: the vote was decided within the second
    // after `last`, and (on one machine's clock) before now.
    closed = closedWindow(
      window,
      new Date(Math.max(last + 1, Math.min(last + 1000, await keeper.now()))),
    );
  }
}

/**
 * `server close` on an election directory: sets the closing time in
 * `polls`, replaced atomically; a running server checks `polls` at every
 * commit, and this waits for its commit in flight
 * ({@linkcode closePolls}).
 *
 * @param dir The election directory.
 * @param closesAt The closing time.
 * @param now The current time.
 * @returns The window now in force.
 * @throws {NoElectionError} When `dir` holds no election.
 * @throws {ElectionMovedError} When it was moved into a database.
 * @throws {ElectionFileError} When `polls` or `history` is malformed.
 * @throws {ClosingRefusedError} When the polls closed already, or the time
 * is in the past. A time at or before the opening closes the election
 * before it opens: the polls never open.
 * @throws {CommitInFlightError} When the running server's commit does not
 * end within a minute.
 */
export async function setClosingTime(
  dir: string,
  closesAt: Date,
  now: Date,
): Promise<PollsWindow & { closesAt: Date }> {
  const paths = electionPaths(dir);
  const ops = denoFileOps();
  try {
    if (
      await readElectionFile(ops, paths.passwords, "voter file") === undefined
    ) {
      throw new NoElectionError(dir);
    }
    await refuseMovedElection(paths);
    return await closePolls(
      {
        where: `${dir}/`,
        read: () => readPollsFile(paths.polls),
        write: (window) =>
          replaceFileDurably(ops, paths.polls, formatPolls(window)),
        settle: () => waitForCommitsSettled(paths),
        now: () => Promise.resolve(Date.now()),
        lastVoteTime: async () =>
          lastVoteTime(
            await readElectionFile(ops, paths.history, "history file"),
            paths.history,
          ),
      },
      closesAt,
      now,
    );
  } finally {
    ops.close();
  }
}

function lastVoteTime(
  history: string | undefined,
  path: string,
): number | undefined {
  let last: number | undefined;
  for (const entry of parseHistory(history ?? "", path)) {
    last = Math.max(last ?? -Infinity, new Date(entry.time).getTime());
  }
  return last;
}

async function readElectionFile(
  ops: FileOps,
  path: string,
  what: string,
): Promise<string | undefined> {
  try {
    return await ops.readText(path);
  } catch (error) {
    throw new ElectionFileError(what, path, describeFsError(error));
  }
}
