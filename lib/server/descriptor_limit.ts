/**
 * The connection cap against the file descriptors the process may still
 * open: every connection holds one, and a server that runs out of them
 * cannot accept. Deno raises the soft limit to the hard one at start-up
 * where the system allows, so what is left is the most there is. Deno
 * reads `/proc/self/limits` only with `--allow-all`, so the server counts
 * instead: it opens `/dev/null` until it has as many descriptors as it
 * needs or the system refuses, then closes them (a few milliseconds).
 *
 * @module
 */

/**
 * Descriptors kept for everything but connections once the cap is fitted:
 * the election's files and lock, the listener, the runtime's threads, and
 * sockets accepted only to be refused.
 */
export const RESERVED_DESCRIPTORS = 40;

/** Fewer connections than this and the server refuses to start. */
export const MIN_CONNECTIONS = 16;

/** Thrown when too few descriptors are left to serve. */
export class DescriptorLimitError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong and how to fix it.
   */
  constructor(message: string) {
    super(message);
    this.name = "DescriptorLimitError";
  }
}

/**
 * Counts the descriptors the process can still open, up to `wanted`.
 *
 * @param wanted Stop counting at this many.
 * @param open Opens one descriptor (for tests; default: `/dev/null`).
 * @returns How many could be opened; `wanted` when all of them.
 * @throws {Error} When opening fails for another reason than the limit.
 */
export function freeDescriptors(
  wanted: number,
  open: () => { close(): void } = () => Deno.openSync("/dev/null"),
): number {
  const held: { close(): void }[] = [];
  try {
    while (held.length < wanted) held.push(open());
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "EMFILE" && code !== "ENFILE") throw error;
  } finally {
    for (const file of held) file.close();
  }
  return held.length;
}

/**
 * Fits the connection cap to the descriptors left.
 *
 * @example
 * ```ts
 * fitConnections(1000, 232); // { maxConnections: 192, note: "..." }
 * ```
 *
 * @param maxConnections The cap asked for.
 * @param free Descriptors the process can still open (see
 * {@linkcode freeDescriptors}, asked for `maxConnections +`
 * {@linkcode RESERVED_DESCRIPTORS}).
 * @returns The cap to use, and the one line to print when it was lowered.
 * @throws {DescriptorLimitError} When fewer than {@linkcode MIN_CONNECTIONS}
 * connections would fit.
 */
export function fitConnections(
  maxConnections: number,
  free: number,
): { maxConnections: number; note?: string } {
  if (maxConnections + RESERVED_DESCRIPTORS <= free) return { maxConnections };
  const fits = free - RESERVED_DESCRIPTORS;
  const fix = `raise the open file limit, e.g. \`ulimit -n ${
    maxConnections + 2 * RESERVED_DESCRIPTORS
  }\``;
  if (fits < MIN_CONNECTIONS) {
    throw new DescriptorLimitError(
      `Refusing to serve: only ${free} more files can be open, room for ${
        Math.max(0, fits)
      } connections, fewer than ${MIN_CONNECTIONS} (${fix})`,
    );
  }
  return {
    maxConnections: fits,
    note:
      `--max-connections ${maxConnections} lowered to ${fits}: only ${free} more files can be open and ${RESERVED_DESCRIPTORS} are kept for the server itself (${fix})`,
  };
}
