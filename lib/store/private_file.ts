/**
 * Refuses secrets that others can read, as ssh refuses an unprotected
 * private key: the election key, the voter file and the TLS key must not be
 * readable by group or others.
 *
 * @module
 */

import { describeFsError } from "./file_ops.ts";

/**
 * Checks that only the owner can read or write `path`.
 *
 * @example
 * ```ts
 * await checkPrivateFile("data/symkey", "key file");
 * ```
 *
 * @param path The file.
 * @param what The kind of file, for the message, e.g. `key file`.
 * @throws {Error} When the file cannot be read or its mode grants group or
 * others any access; the message names the file and the fix.
 */
export async function checkPrivateFile(
  path: string,
  what: string,
): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new Error(`Cannot read ${what} "${path}": ${describeFsError(error)}`);
  }
  // Deno reports no mode on Windows, where POSIX permissions do not apply.
  if (info.mode === null) return;
  const mode = info.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `Refusing to start: ${what} "${path}" is accessible by group or others (mode ${
        mode.toString(8).padStart(4, "0")
      }); run chmod 600 "${path}"`,
    );
  }
}
