/** A temporary directory that a test owns and removes with `await using`. */

/** A temporary directory, removed with everything in it when disposed of. */
export interface TempDir extends AsyncDisposable {
  /** The directory's path. */
  path: string;
  /** Removes the directory and everything in it. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Creates a temporary directory for one test.
 *
 * @example
 * ```ts
 * await using temp = await tempDir("booth-store-");
 * await Deno.writeTextFile(`${temp.path}/x`, "");
 * ```
 *
 * @param prefix The directory name's prefix, e.g. `booth-store-`.
 * @returns The directory, removed on disposal.
 */
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}
