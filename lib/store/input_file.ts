/**
 * Reading a file a person names on the command line (a voter roll, a
 * certificate, a key, an election file) without trusting what it is: a
 * device such as `/dev/zero` would be read until memory runs out, and a FIFO
 * would hang the program until someone writes to it. Only a regular file of
 * a bounded size is read.
 *
 * @module
 */

/** Thrown when a named file is not a regular file or is too large. */
export class InputFileError extends Error {
  /**
   * @param message Why, to follow the file's name and a colon, e.g. `it is
   * larger than 64 KiB`.
   */
  constructor(message: string) {
    super(message);
    this.name = "InputFileError";
  }
}

/** Size limits for the files the booth reads, in bytes. */
export const INPUT_FILE_LIMITS = {
  /**
   * An `election.json`, a CA, a server certificate chain or a private key:
   * each a few kilobytes at most.
   */
  small: 64 * 1024,
  /** A voter roll: 256 MiB is about five million voters. */
  roll: 256 * 1024 * 1024,
} as const;

/**
 * Reads a regular file of at most `maxBytes`.
 *
 * @example
 * ```ts
 * import { INPUT_FILE_LIMITS, readInputText } from "./input_file.ts";
 * const pem = await readInputText("certs/ca.crt", INPUT_FILE_LIMITS.small);
 * ```
 *
 * @param path The file.
 * @param maxBytes The largest size accepted.
 * @returns Its text, decoded as UTF-8 (invalid bytes as U+FFFD, as
 * `Deno.readTextFile` does).
 * @throws {InputFileError} When it is not a regular file (a directory, a
 * device, a FIFO, a socket) or is larger than `maxBytes`.
 * @throws {Deno.errors.NotFound} And the other file system errors, as
 * `Deno.readTextFile` throws them.
 */
export async function readInputText(
  path: string,
  maxBytes: number,
): Promise<string> {
  return new TextDecoder().decode(await readInputFile(path, maxBytes));
}

/**
 * Reads a regular file of at most `maxBytes`, as bytes.
 *
 * @param path The file.
 * @param maxBytes The largest size accepted.
 * @returns Its bytes.
 * @throws {InputFileError} When it is not a regular file or is larger than
 * `maxBytes`.
 * @throws {Deno.errors.NotFound} And the other file system errors.
 */
export async function readInputFile(
  path: string,
  maxBytes: number,
): Promise<Uint8Array> {
  // Checked before opening: opening a FIFO waits for a writer.
  checkKind(await Deno.stat(path), maxBytes);
  using file = await Deno.open(path, { read: true });
  checkKind(await file.stat(), maxBytes);
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let length = 0;
  while (length <= maxBytes) {
    const chunk = new Uint8Array(Math.min(64 * 1024, maxBytes + 1 - length));
    const n = await file.read(chunk);
    if (n === null) break;
    chunks.push(chunk.subarray(0, n));
    length += n;
  }
  // It grew since it was looked at.
  if (length > maxBytes) throw tooLarge(maxBytes);
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

function checkKind(info: Deno.FileInfo, maxBytes: number): void {
  if (info.isDirectory) throw new InputFileError("it is a directory");
  if (!info.isFile) {
    throw new InputFileError(
      "it is not a regular file (a device, a pipe or a socket)",
    );
  }
  if (info.size > maxBytes) throw tooLarge(maxBytes);
}

function tooLarge(maxBytes: number): InputFileError {
  const size = maxBytes >= 1024 * 1024
    ? `${maxBytes / (1024 * 1024)} MiB`
    : `${maxBytes / 1024} KiB`;
  return new InputFileError(`it is larger than ${size}`);
}
