/**
 * How the voter's client finds its election: the file named by
 * `--election`; else, for a client with a kit built in (`make build
 * ELECTION=...`), that kit; else `election.json` in the working directory,
 * else `election.json` next to the compiled client.
 *
 * A built-in kit beats files found on disk: a browser drops whatever a page
 * offers into Downloads, where the client is run from, and a planted
 * `election.json` would otherwise point the pinned client at another server
 * and CA. Such a file is ignored with a notice, not refused, so planting one
 * cannot stop anyone from voting.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { describeFsError } from "../store/file_ops.ts";
import { INPUT_FILE_LIMITS, readInputText } from "../store/input_file.ts";
import { KIT_FILE_NAME, KitError, parseElectionKit } from "../election/kit.ts";
import type { ElectionKit } from "../election/kit.ts";

/** Where to look, in order; each may be absent. */
export interface ElectionPlaces {
  /** The file `--election` names; when given, the only place looked at. */
  explicit?: string;
  /** The working directory. */
  cwd: string;
  /** The compiled client's own path; absent under `deno run`. */
  executable?: string;
  /** The kit built into the compiled client; absent under `deno run`. */
  embedded?: string;
}

/** An election found, and the file it came from. */
export interface FoundElection {
  /** The kit. */
  kit: ElectionKit;
  /** The file it was read from, for messages. */
  path: string;
  /**
   * Files that hold another election and were ignored because the client
   * has its kit built in: the voter is told about each.
   */
  ignored: string[];
}

/** Thrown for an election file that cannot be read or is not valid. */
export class ElectionFileUnusableError extends Error {
  /**
   * Creates the error.
   *
   * @param message One line naming the file and the problem.
   */
  constructor(message: string) {
    super(message);
    this.name = "ElectionFileUnusableError";
  }
}

/**
 * The files on disk that may hold the election, in the order: the
 * working directory, then next to the executable.
 *
 * @param places The working directory and the executable.
 * @returns The paths to try.
 */
export function electionCandidates(places: ElectionPlaces): string[] {
  return [
    join(places.cwd, KIT_FILE_NAME),
    ...(places.executable === undefined
      ? []
      : [join(dirname(places.executable), KIT_FILE_NAME)]),
  ];
}

/**
 * Finds and reads the election: the file `--election` names; else the
 * built-in kit, when there is one, ignoring any other election found on
 * disk; else the first of {@linkcode electionCandidates} that exists.
 *
 * @example
 * ```ts
 * const found = await findElection({ cwd: Deno.cwd() });
 * if (found) console.log(found.kit.name);
 * ```
 *
 * @param places Where to look.
 * @param readTextFile Reads a file (by default a regular file of at most
 * 64 KiB: not a device or a FIFO).
 * @returns The election, or undefined when no place has a file (and no
 * `--election` was given).
 * @throws {ElectionFileUnusableError} When the file used (named by
 * `--election`, built in, or found) cannot be read or is not a valid kit.
 */
export async function findElection(
  places: ElectionPlaces,
  readTextFile: (path: string) => Promise<string> = (path) =>
    readInputText(path, INPUT_FILE_LIMITS.small),
): Promise<FoundElection | undefined> {
  const read = (path: string, options?: { missingOk?: boolean }) =>
    readKit(path, readTextFile, options);
  if (places.explicit !== undefined) {
    return { ...(await read(places.explicit))!, ignored: [] };
  }
  const builtIn = places.embedded === undefined
    ? undefined
    : await read(places.embedded, { missingOk: true });
  if (builtIn !== undefined) {
    const ignored: string[] = [];
    for (const path of electionCandidates(places)) {
      let found: FoundElection | undefined;
      try {
        found = await read(path, { missingOk: true });
      } catch (error) {
        if (!(error instanceof ElectionFileUnusableError)) throw error;
        ignored.push(path);
        continue;
      }
      if (found !== undefined && !sameKit(found.kit, builtIn.kit)) {
        ignored.push(path);
      }
    }
    return { ...builtIn, ignored };
  }
  for (const path of electionCandidates(places)) {
    const found = await read(path, { missingOk: true });
    if (found !== undefined) return found;
  }
  return undefined;
}

async function readKit(
  path: string,
  readTextFile: (path: string) => Promise<string>,
  options: { missingOk?: boolean } = {},
): Promise<FoundElection | undefined> {
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && options.missingOk) {
      return undefined;
    }
    throw new ElectionFileUnusableError(
      `Cannot read election file "${path}": ${describeFsError(error)}`,
    );
  }
  try {
    return { kit: parseElectionKit(text), path, ignored: [] };
  } catch (error) {
    if (!(error instanceof KitError)) throw error;
    throw new ElectionFileUnusableError(
      `Cannot use election file "${path}": ${error.message}`,
    );
  }
}

function sameKit(a: ElectionKit, b: ElectionKit): boolean {
  return a.name === b.name && a.host === b.host && a.port === b.port &&
    a.ca === b.ca;
}
