/**
 * Refuses secrets that others can read, as ssh refuses an unprotected
 * private key: the election key, the voter file and the TLS key must belong
 * to the user running the server and not be readable by group or others.
 *
 * @module
 */

import { describeFsError, openRegularFile } from "./file_ops.ts";

/**
 * Thrown when a secret, or the election directory, belongs to another user
 * or is open to group or others; the message gives the command that fixes
 * it.
 */
export class ExposedFileError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is exposed, and the command that fixes it.
   */
  constructor(message: string) {
    super(message);
    this.name = "ExposedFileError";
  }
}

/**
 * Checks that only the owner can read or write `path`.
 *
 * @example
 * ```ts
 * await checkPrivateFile("data/symkey", "key file", Deno.uid());
 * ```
 *
 * @param path The file.
 * @param what The kind of file, for the message, e.g. `key file`.
 * @param uid This process's user id; null skips the ownership check.
 * @throws {Error} When the file cannot be read.
 * @throws {ExposedFileError} When it belongs to another user or its mode
 * grants group or others any access; the message names the file and the
 * fix.
 */
export async function checkPrivateFile(
  path: string,
  what: string,
  uid: number | null,
): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new Error(`Cannot read ${what} "${path}": ${describeFsError(error)}`);
  }
  const problem = privacyProblem(info, uid);
  // Another user who owns the file can change its mode, or replace K.
  if (problem?.kind === "owner") {
    throw new ExposedFileError(
      `Refusing to use ${what} "${path}": it belongs to uid ${problem.owner}, not to this user (uid ${uid}); run chown ${uid} "${path}"`,
    );
  }
  if (problem?.kind === "mode") {
    throw new ExposedFileError(
      `Refusing to use ${what} "${path}": it is accessible by group or others (mode ${
        formatMode(problem.mode)
      }); run chmod 600 "${path}"`,
    );
  }
}

/** Why a file is not private: another user owns it, or its mode. */
export type PrivacyProblem =
  | { kind: "owner"; owner: number }
  | { kind: "mode"; mode: number };

/**
 * Whether only `uid` can read or write the file described by `info`.
 *
 * @example
 * ```ts
 * privacyProblem(Deno.statSync("data/symkey"), Deno.uid()); // undefined
 * ```
 *
 * @param info The file's information (from `stat` or an open file).
 * @param uid The user who must own it; null skips the ownership check.
 * @returns The problem, or undefined when the file is private (or the
 * platform, Windows, reports no mode).
 */
export function privacyProblem(
  info: Deno.FileInfo,
  uid: number | null,
): PrivacyProblem | undefined {
  // Deno reports no mode on Windows, where POSIX permissions do not apply.
  if (info.mode === null) return undefined;
  if (uid !== null && info.uid !== uid) {
    return { kind: "owner", owner: info.uid ?? -1 };
  }
  const mode = info.mode & 0o777;
  return (mode & 0o077) !== 0 ? { kind: "mode", mode } : undefined;
}

/**
 * A file mode as `chmod` takes it.
 *
 * @param mode The permission bits.
 * @returns e.g. `0644`.
 */
export function formatMode(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

/**
 * Opens a file of secrets for appending, creating it with mode 0600: never
 * through a symbolic link, and only when it belongs to `uid` and is closed
 * to group and others (a file another user owns, or can read, would hand
 * them what is appended).
 *
 * @example
 * ```ts
 * using file = openPrivateForAppend("credentials", "credentials file", Deno.uid());
 * ```
 *
 * @param path The file.
 * @param what The kind of file, for messages, e.g. `credentials file`.
 * @param uid The user who must own it; null skips the ownership check.
 * @returns The open file, which the caller closes.
 * @throws {UnsafeFileError} When it is a link or not a regular file.
 * @throws {ExposedFileError} When another user owns it or group or others
 * may access it.
 * @throws {Error} When it cannot be opened (`Deno.errors.*`).
 */
export function openPrivateForAppend(
  path: string,
  what: string,
  uid: number | null,
): Deno.FsFile {
  const file = openRegularFile(path, {
    append: true,
    create: true,
    mode: 0o600,
  });
  try {
    const problem = privacyProblem(file.statSync(), uid);
    if (problem?.kind === "owner") {
      throw new ExposedFileError(
        `Refusing to append to ${what} "${path}": it belongs to uid ${problem.owner}, not to this user (uid ${uid}); give a file of your own`,
      );
    }
    if (problem?.kind === "mode") {
      throw new ExposedFileError(
        `Refusing to append to ${what} "${path}": it is accessible by group or others (mode ${
          formatMode(problem.mode)
        }); run chmod 600 "${path}"`,
      );
    }
  } catch (error) {
    file.close();
    throw error;
  }
  return file;
}
