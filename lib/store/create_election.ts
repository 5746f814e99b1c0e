/**
 * `server init`: writes a new election into a directory.
 *
 * @module
 */

import { formatKey, generateKey, sealPassword } from "../election/crypto.ts";
import {
  formatCandidates,
  formatPasswords,
  formatResult,
} from "../election/election_files.ts";
import type { RollEntry } from "../election/election_files.ts";
import { formatPolls } from "../election/polls.ts";
import type { PollsWindow } from "../election/polls.ts";
import {
  electionPaths,
  lockElection,
  ownerProblem,
  refuseDatabaseKeyOverwrite,
  refuseNonDirectory,
} from "./election_dir.ts";
import { ExposedFileError } from "./private_file.ts";
import { denoFileOps, replaceFileDurably } from "./file_ops.ts";
import type { FileOps } from "./file_ops.ts";

/** Options of {@linkcode createElection}. */
export interface CreateElectionOptions {
  /** The voter roll, with passwords in clear. */
  voters: RollEntry[];
  /** The candidates in ballot order. */
  candidates: string[];
  /** Replace an existing election in the directory. */
  force?: boolean;
  /** When the polls open and close (default: open at once, never closed). */
  polls?: PollsWindow;
  /** Called now and then while passwords are encrypted. */
  onProgress?: (done: number, total: number) => void;
  /** File operations (tests substitute their own). */
  ops?: FileOps;
  /**
   * The user who must own an existing directory: this process's
   * (`Deno.uid()`) unless given; null skips the check.
   */
  uid?: number | null;
}

/**
 * Writes a new election: a fresh K in `symkey`, `passwords`, `candidates`,
 * a `result` of zeros and the polls' times in `polls`; removes any
 * `history`.
 *
 * @example
 * ```ts
 * await createElection("data", {
 *   voters: [{ name: "Alice", number: "1123456", password: "1234" }],
 *   candidates: ["Chris", "Linda"],
 * });
 * ```
 *
 * @param dir The election directory; created when missing, and made mode
 * 0700 (group and others lose any access).
 * @param options The voter roll, the ballot and whether to replace.
 * @throws {Error} When an election exists and `force` is not set.
 * @throws {DatabaseKeyError} When `symkey` is a database election's key or
 * the election moved into a database, `force` or not.
 * @throws {ElectionLockedError} When a server is serving the election.
 * @throws {NotADirectoryError} When `dir` exists and is not a directory.
 * @throws {ExposedFileError} When `dir` belongs to another user (the server
 * would refuse it).
 */
export async function createElection(
  dir: string,
  options: CreateElectionOptions,
): Promise<void> {
  const ops = options.ops ?? denoFileOps();
  const paths = electionPaths(dir);
  try {
    await refuseNonDirectory(dir);
    const existing = await Deno.stat(dir).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    const owner = existing &&
      ownerProblem(
        dir,
        existing,
        options.uid === undefined ? Deno.uid() : options.uid,
      );
    if (owner !== undefined) {
      throw new ExposedFileError(`Refusing to create the election: ${owner}`);
    }
    // Before --force is looked at: that key may be the only copy of a live
    // database election's K.
    await refuseDatabaseKeyOverwrite(paths);
    if (!options.force) {
      for (const path of [paths.symkey, paths.passwords, paths.history]) {
        if (await ops.size(path) !== undefined) {
          throw new Error(
            `An election already exists in ${dir}/ ("${path}"): use --force to replace it`,
          );
        }
      }
    }
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    // An existing directory (git creates `data/` for its README) is closed
    // to group and others too: the server refuses one that is not.
    const mode = (await Deno.stat(dir)).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      await Deno.chmod(dir, mode & 0o700);
    }
    await lockElection(paths, ops);
    const key = generateKey();
    const total = options.voters.length;
    const lines = options.voters.map((voter, i) => {
      if (i % 1000 === 0) options.onProgress?.(i, total);
      return {
        name: voter.name,
        number: voter.number,
        sealed: sealPassword(key, voter, voter.password),
      };
    });
    options.onProgress?.(total, total);
    // The history goes first: a half-done re-initialisation must never pair
    // an old history with a new voter roll.
    await ops.remove(paths.journal);
    await ops.remove(paths.history);
    await replaceFileDurably(ops, paths.symkey, formatKey(key));
    await replaceFileDurably(ops, paths.passwords, formatPasswords(lines));
    await replaceFileDurably(
      ops,
      paths.candidates,
      formatCandidates(options.candidates),
    );
    await replaceFileDurably(
      ops,
      paths.result,
      formatResult(options.candidates, options.candidates.map(() => 0)),
    );
    await replaceFileDurably(
      ops,
      paths.polls,
      formatPolls(options.polls ?? {}),
    );
  } finally {
    ops.close();
  }
}
