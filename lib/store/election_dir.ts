/**
 * The election directory: where each file lives, the errors that name the
 * directory, and the lock that makes one process its only writer.
 *
 * @module
 */

import { join } from "node:path";
import type { FileOps } from "./file_ops.ts";

/** Paths of an election's files. */
export interface ElectionPaths {
  /** The election directory itself. */
  dir: string;
  /** `symkey`: the election key K. */
  symkey: string;
  /** `passwords`: the voter file. */
  passwords: string;
  /** `candidates`: the ballot. */
  candidates: string;
  /** `result`: totals per candidate. */
  result: string;
  /** `history`: who voted when. */
  history: string;
  /** `journal`: the undo journal of the commit in progress. */
  journal: string;
  /** `lock`: held by the one process writing the election. */
  lock: string;
}

/**
 * The paths of the election files in `dir`.
 *
 * @example
 * ```ts
 * electionPaths("data").history; // "data/history"
 * ```
 *
 * @param dir The election directory, e.g. `data`.
 * @returns Each file's path.
 */
export function electionPaths(dir: string): ElectionPaths {
  return {
    dir,
    symkey: join(dir, "symkey"),
    passwords: join(dir, "passwords"),
    candidates: join(dir, "candidates"),
    result: join(dir, "result"),
    history: join(dir, "history"),
    journal: join(dir, "journal"),
    lock: join(dir, "lock"),
  };
}

/** Thrown when a directory holds no election at all. */
export class NoElectionError extends Error {
  /**
   * Creates the error for `dir`.
   *
   * @param dir The directory.
   */
  constructor(dir: string) {
    super(`No election in ${dir}/: run \`deno task server init\``);
    this.name = "NoElectionError";
  }
}

/** Thrown when another process is already writing the election. */
export class ElectionLockedError extends Error {
  /**
   * Creates the error for `dir`.
   *
   * @param dir The election directory.
   */
  constructor(dir: string) {
    super(
      `Another server is serving the election in ${dir}/: stop it first (only one process may write an election)`,
    );
    this.name = "ElectionLockedError";
  }
}

/** Thrown when the election's files disagree with each other. */
export class ElectionInconsistentError extends Error {
  /** Every problem found, one line each. */
  readonly problems: string[];

  /**
   * Creates the error from every problem found.
   *
   * @param problems The problems, the first of which becomes the message.
   */
  constructor(problems: string[]) {
    super(problems[0]);
    this.name = "ElectionInconsistentError";
    this.problems = problems;
  }
}

/**
 * Makes this process the election's only writer: two servers on one
 * election would each keep their own "already voted?" index, and a voter
 * could vote once on each.
 *
 * @param paths The election's paths.
 * @param ops The file operations that hold the lock until closed.
 * @throws {ElectionLockedError} When another process holds the lock.
 */
export async function lockElection(
  paths: ElectionPaths,
  ops: FileOps,
): Promise<void> {
  if (!await ops.lock(paths.lock)) throw new ElectionLockedError(paths.dir);
}
