/**
 * The file operations the election store is built from, behind one
 * interface so that tests can crash the store between any two of them.
 * Every write is synced before it returns: durability is `write temp → fsync
 * → rename → fsync the directory`, and appends are fsynced.
 *
 * @module
 */

import { dirname } from "node:path";

/** The primitive, individually durable file operations the store uses. */
export interface FileOps {
  /** Reads a file's text, or undefined when it does not exist. */
  readText(path: string): Promise<string | undefined>;
  /** Size of a file in bytes, or undefined when it does not exist. */
  size(path: string): Promise<number | undefined>;
  /** Creates or replaces `path` with `text` (mode 0600) and fsyncs it. */
  writeSynced(path: string, text: string): Promise<void>;
  /** Appends `text` to `path`, creating it (mode 0600), and fsyncs it. */
  appendSynced(path: string, text: string): Promise<void>;
  /** Cuts `path` to `bytes` and fsyncs it. */
  truncateSynced(path: string, bytes: number): Promise<void>;
  /** Renames `from` over `to`. */
  rename(from: string, to: string): Promise<void>;
  /** Removes `path` if it exists. */
  remove(path: string): Promise<void>;
  /** Fsyncs a directory, making renames, creations and removals in it durable. */
  syncDir(dir: string): Promise<void>;
}

/** File operations on the real file system through Deno. */
export const denoFileOps: FileOps = {
  async readText(path) {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  },
  async size(path) {
    try {
      return (await Deno.stat(path)).size;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  },
  async writeSynced(path, text) {
    using file = await Deno.open(path, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    await writeAll(file, new TextEncoder().encode(text));
    await file.sync();
  },
  async appendSynced(path, text) {
    using file = await Deno.open(path, {
      append: true,
      create: true,
      mode: 0o600,
    });
    await writeAll(file, new TextEncoder().encode(text));
    await file.syncData();
  },
  async truncateSynced(path, bytes) {
    using file = await Deno.open(path, { write: true });
    await file.truncate(bytes);
    await file.sync();
  },
  async rename(from, to) {
    await Deno.rename(from, to);
  },
  async remove(path) {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  },
  async syncDir(dir) {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
  },
};

/**
 * Replaces `path` atomically and durably: write a temporary file beside it,
 * fsync it, rename it over `path`, fsync the directory. A crash at any point
 * leaves either the old file or the new one, never a mix.
 *
 * @param ops The file operations to use.
 * @param path The file to replace.
 * @param text Its new content.
 */
export async function replaceFileDurably(
  ops: FileOps,
  path: string,
  text: string,
): Promise<void> {
  const temporary = `${path}.tmp`;
  await ops.writeSynced(temporary, text);
  await ops.rename(temporary, path);
  await ops.syncDir(dirname(path));
}

/** A short writes loop: one `write` may take only part of the buffer. */
async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await file.write(bytes.subarray(written));
  }
}

/**
 * Turns an error from the file system into words a person can act on.
 *
 * @param error The error.
 * @returns A short description, e.g. `permission denied`.
 */
export function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "it does not exist";
  if (error instanceof Deno.errors.PermissionDenied) {
    return "permission denied";
  }
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.message : String(error);
}
