/**
 * Refuses secrets that others can read, as ssh refuses an unprotected
 * private key: the election key, the voter file and the TLS key must belong
 * to the user running the server and not be readable by group or others.
 *
 * @module
 */

import { describeFsError } from "./file_ops.ts";

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
  // Deno reports no mode on Windows, where POSIX permissions do not apply.
  if (info.mode === null) return;
  // Another user who owns the file can change its mode, or replace K.
  if (uid !== null && info.uid !== uid) {
    throw new ExposedFileError(
      `Refusing to start: ${what} "${path}" belongs to uid ${info.uid}, not to this user (uid ${uid}); run chown ${uid} "${path}"`,
    );
  }
  const mode = info.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ExposedFileError(
      `Refusing to start: ${what} "${path}" is accessible by group or others (mode ${
        mode.toString(8).padStart(4, "0")
      }); run chmod 600 "${path}"`,
    );
  }
}
