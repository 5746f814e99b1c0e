/**
 * The election directory: where each file lives, the errors that name the
 * directory, and the lock that makes one process its only writer.
 *
 * @module
 */

import { join } from "node:path";
import {
  describeFsError,
  lstatOrUndefined,
  refuseUnsafeFile,
  replaceFileDurably,
} from "./file_ops.ts";
import type { FileOps } from "./file_ops.ts";
import { formatTime } from "../election/polls.ts";
import { escapeForTerminal } from "../terminal/escape.ts";
import { checkPrivateFile, ExposedFileError } from "./private_file.ts";

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
  /** `polls`: when the polls open and close. */
  polls: string;
  /**
   * `moved`: present once `init --database --from` moved the election into
   * a database; it names where, and no file command uses the directory.
   */
  moved: string;
  /**
   * `database`: present when `symkey` is the key of a database election
   * (`init --database`, `--from`); it names the database, and no file
   * `init` replaces that key.
   */
  database: string;
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
    polls: join(dir, "polls"),
    moved: join(dir, "moved"),
    database: join(dir, "database"),
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
 * Thrown when the election in a directory was moved into a database: its
 * files are a frozen copy, and serving or changing them would run a second
 * election beside the live one (a voter could vote on each).
 */
export class ElectionMovedError extends Error {
  /**
   * Creates the error for `dir`.
   *
   * @param dir The election directory.
   * @param where What the `moved` file says, e.g. `moved into the database
   * "postgres://booth@db:5432/booth" at 2026-11-26T09:00:00Z`.
   */
  constructor(dir: string, where: string) {
    super(
      `The election in ${dir}/ was ${where}: use --database (the files in ${dir}/ are a frozen copy, not a live election)`,
    );
    this.name = "ElectionMovedError";
  }
}

/**
 * Refuses an election directory that `init --database --from` moved into a
 * database.
 *
 * @param paths The election's paths.
 * @throws {ElectionMovedError} When its `moved` file exists.
 * @throws {UnsafeFileError} When `moved` is a link or not a regular file.
 */
export async function refuseMovedElection(paths: ElectionPaths): Promise<void> {
  const info = lstatOrUndefined(paths.moved);
  if (info === undefined) return;
  refuseUnsafeFile(paths.moved, info);
  const text = await Deno.readTextFile(paths.moved);
  const where = escapeForTerminal(text.split("\n")[0].trim(), {
    newlines: false,
  });
  throw new ElectionMovedError(
    paths.dir,
    where === "" ? "moved into a database" : where,
  );
}

/**
 * Thrown when a directory's `symkey` is a database election's K: a file
 * election there would replace the only copy of that key, and every booth
 * of the database election would refuse its voters from then on.
 */
export class DatabaseKeyError extends Error {
  /**
   * Creates the error.
   *
   * @param message What holds the key and the way out.
   */
  constructor(message: string) {
    super(message);
    this.name = "DatabaseKeyError";
  }
}

/**
 * Which database election the `symkey` in a directory belongs to.
 *
 * @param paths The directory's paths.
 * @returns What its `database` marker says (one line, escaped for the
 * terminal), e.g. `the key of the election in the database
 * "postgres://booth@db/booth"`; undefined when it has none.
 * @throws {UnsafeFileError} When the marker is a link or not a regular file.
 */
export async function databaseKeyOwner(
  paths: ElectionPaths,
): Promise<string | undefined> {
  const info = lstatOrUndefined(paths.database);
  if (info === undefined) return undefined;
  refuseUnsafeFile(paths.database, info);
  const text = await Deno.readTextFile(paths.database);
  const line = escapeForTerminal(text.split("\n")[0].trim(), {
    newlines: false,
  });
  return line === "" ? "the key of a database election" : line;
}

/**
 * The `database` marker's line for the key of the election in `where`.
 *
 * @param where The database, e.g. `the database "postgres://booth@db/booth"`
 * (never a password).
 * @returns The line, without its newline.
 */
export function databaseKeyLine(where: string): string {
  return `the key of the election in ${where}`;
}

/**
 * Marks `symkey` in a directory as the key of the election in `where`,
 * durably.
 *
 * @param paths The directory's paths.
 * @param ops File operations.
 * @param where The database, never with a password.
 */
export async function markDatabaseKey(
  paths: ElectionPaths,
  ops: FileOps,
  where: string,
): Promise<void> {
  await replaceFileDurably(ops, paths.database, `${databaseKeyLine(where)}\n`);
  await ops.syncDir(paths.dir);
}

/**
 * Refuses to create a file election where it would replace a database
 * election's K, `--force` or not: that key may be the only copy.
 *
 * @param paths The directory's paths.
 * @throws {DatabaseKeyError} When the directory holds a database election's
 * key or a moved election.
 */
export async function refuseDatabaseKeyOverwrite(
  paths: ElectionPaths,
): Promise<void> {
  let owner = await databaseKeyOwner(paths);
  if (owner === undefined) {
    try {
      await refuseMovedElection(paths);
      return;
    } catch (error) {
      if (!(error instanceof ElectionMovedError)) throw error;
      owner = "the key of the election moved into a database";
    }
  }
  throw new DatabaseKeyError(
    `Refusing to create an election in ${paths.dir}/: "${paths.symkey}" is ${owner}, and --force does not replace it: choose another --data (remove ${paths.dir}/ yourself only once that election is over and exported)`,
  );
}

/**
 * Refuses a file command on a directory that holds only a database
 * election's key.
 *
 * @param paths The directory's paths.
 * @throws {DatabaseKeyError} When it holds a `database` marker.
 */
async function refuseDatabaseKeyDirectory(paths: ElectionPaths): Promise<void> {
  const owner = await databaseKeyOwner(paths);
  if (owner === undefined) return;
  throw new DatabaseKeyError(
    `${paths.dir}/ holds only ${owner}, not a file election: add --database URL (with --data ${paths.dir})`,
  );
}

/**
 * Marks an election directory as moved into a database, durably, so that
 * no file command serves or changes it from then on. The caller holds the
 * election's lock.
 *
 * @param paths The election's paths.
 * @param ops The file operations holding the lock.
 * @param where Where it went, e.g. `the database "postgres://booth@db/booth"`
 * (never a password).
 * @param at When it moved.
 */
export async function markElectionMoved(
  paths: ElectionPaths,
  ops: FileOps,
  where: string,
  at: Date,
): Promise<void> {
  await replaceFileDurably(
    ops,
    paths.moved,
    `moved into ${where} at ${
      formatTime(new Date(Math.floor(at.getTime() / 1000) * 1000))
    }\n`,
  );
}

/** The election directory given (`--data`) is a file or something else. */
export class NotADirectoryError extends Error {
  /**
   * Creates the error for `dir`.
   *
   * @param dir The path that is not a directory.
   */
  constructor(dir: string) {
    super(`Election directory "${dir}" is not a directory`);
    this.name = "NotADirectoryError";
  }
}

/**
 * Refuses an election directory path that exists and is not a directory,
 * before anything is created in it or read from it.
 *
 * @param dir The election directory.
 * @throws {NotADirectoryError} When `dir` exists and is not a directory
 * (a link to a directory counts as one).
 */
export async function refuseNonDirectory(dir: string): Promise<void> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new NotADirectoryError(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
}

/**
 * Why an election directory may not be used by this user: it belongs to
 * another (the server refuses it, so `init` refuses it too).
 *
 * @param dir The election directory.
 * @param info What `Deno.stat` says of it.
 * @param uid This process's user id; null where the platform has none.
 * @returns The problem, with the command that fixes it, or undefined.
 */
export function ownerProblem(
  dir: string,
  info: Deno.FileInfo,
  uid: number | null,
): string | undefined {
  if (uid === null || info.uid === null || info.uid === uid) return undefined;
  return `election directory "${dir}" belongs to uid ${info.uid}, not to this user (uid ${uid}); run chown -R ${uid} "${dir}"`;
}

/**
 * Checks, before anything is written, that an election can be served
 * safely: the directory belongs to this user and is closed to group and
 * others (a readable directory leaks vote times through mtimes, a writable
 * one lets files be swapped); no election file is a link or anything but a
 * regular file; `symkey` and `passwords` belong to this user with mode 0600
 * or stricter.
 *
 * @param paths The election's paths.
 * @param uid This process's user id (`Deno.uid()`); null skips ownership
 * checks where the platform has none.
 * @throws {NoElectionError} When the directory or both key files are missing.
 * @throws {NotADirectoryError} When the path is not a directory.
 * @throws {ExposedFileError} When the directory or a key file is not
 * private; the message gives the command that fixes it.
 * @throws {UnsafeFileError} When an election file is a link.
 * @throws {ElectionMovedError} When the election moved into a database.
 * @throws {DatabaseKeyError} When the directory holds only a database
 * election's key.
 */
export async function checkElectionFiles(
  paths: ElectionPaths,
  uid: number | null,
): Promise<void> {
  const dir = paths.dir;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new NoElectionError(dir);
    throw new Error(
      `Cannot read election directory "${dir}": ${describeFsError(error)}`,
    );
  }
  if (!info.isDirectory) throw new NotADirectoryError(dir);
  // Deno reports no mode on Windows, where POSIX permissions do not apply.
  if (info.mode !== null) {
    const owner = ownerProblem(dir, info, uid);
    if (owner !== undefined) {
      throw new ExposedFileError(`Refusing to open the election: ${owner}`);
    }
    const mode = info.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new ExposedFileError(
        `Refusing to open the election: election directory "${dir}" is accessible by group or others (mode ${
          mode.toString(8).padStart(4, "0")
        }); run chmod 700 "${dir}"`,
      );
    }
  }
  const files = [
    paths.symkey,
    paths.passwords,
    paths.candidates,
    paths.result,
    paths.history,
    paths.journal,
    paths.polls,
    paths.moved,
    paths.database,
  ];
  for (const path of [...files, ...files.map((path) => `${path}.tmp`)]) {
    const info = lstatOrUndefined(path);
    if (info?.isSymlink) refuseUnsafeFile(path, info);
  }
  const symkey = lstatOrUndefined(paths.symkey);
  const passwords = lstatOrUndefined(paths.passwords);
  if (symkey === undefined && passwords === undefined) {
    throw new NoElectionError(dir);
  }
  if (symkey) await checkPrivateFile(paths.symkey, "key file", uid);
  if (passwords) await checkPrivateFile(paths.passwords, "voter file", uid);
  await refuseMovedElection(paths);
  await refuseDatabaseKeyDirectory(paths);
}

/**
 * Makes this process the election's only writer: two servers on one
 * election would each keep their own "already voted?" index, and a voter
 * could vote once on each. The lock is on the directory itself, so deleting
 * a file cannot lift it.
 *
 * @example
 * ```ts
 * import { denoFileOps } from "./file_ops.ts";
 *
 * const ops = denoFileOps();
 * try {
 *   // An official's command waits a moment for another one to finish.
 *   await lockElection(electionPaths("data"), ops, { waitMs: 2000 });
 * } finally {
 *   ops.close();
 * }
 * ```
 *
 * @param paths The election's paths.
 * @param ops The file operations that hold the lock until closed.
 * @param options How long to keep trying while another process holds the
 * lock (default 0: fail at once, as a server does).
 * @throws {ElectionLockedError} When another process holds the lock.
 */
export async function lockElection(
  paths: ElectionPaths,
  ops: FileOps,
  options: { waitMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  while (!await ops.lock(paths.dir)) {
    if (Date.now() >= deadline) throw new ElectionLockedError(paths.dir);
    await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
  }
}

/** How often {@linkcode lockElection} tries again while it waits. */
const LOCK_RETRY_MS = 20;
