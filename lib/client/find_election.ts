/**
 * How the voter's client finds its election without flags: the file named
 * by `--election`, else `election.json` in the working directory, else
 * `election.json` next to the compiled client, else the one built into it
 * (`make build ELECTION=...`).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { describeFsError } from "../store/file_ops.ts";
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
 * The places looked at, in order.
 *
 * @param places The flag, the working directory, the executable, the
 * embedded copy.
 * @returns The paths to try; only the explicit one when given.
 */
export function electionCandidates(places: ElectionPlaces): string[] {
  if (places.explicit !== undefined) return [places.explicit];
  return [
    join(places.cwd, KIT_FILE_NAME),
    ...(places.executable === undefined
      ? []
      : [join(dirname(places.executable), KIT_FILE_NAME)]),
    ...(places.embedded === undefined ? [] : [places.embedded]),
  ];
}

/**
 * Finds and reads the election, the first place that has a file winning.
 *
 * @example
 * ```ts
 * const found = await findElection({ cwd: Deno.cwd() });
 * if (found) console.log(found.kit.name);
 * ```
 *
 * @param places Where to look.
 * @param readTextFile Reads a file (Deno's by default).
 * @returns The election, or undefined when no place has a file (and no
 * `--election` was given).
 * @throws {ElectionFileUnusableError} When the file found (or named by
 * `--election`) cannot be read or is not a valid kit.
 */
export async function findElection(
  places: ElectionPlaces,
  readTextFile: (path: string) => Promise<string> = Deno.readTextFile,
): Promise<FoundElection | undefined> {
  for (const path of electionCandidates(places)) {
    let text: string;
    try {
      text = await readTextFile(path);
    } catch (error) {
      if (
        error instanceof Deno.errors.NotFound && places.explicit === undefined
      ) {
        continue;
      }
      throw new ElectionFileUnusableError(
        `Cannot read election file "${path}": ${describeFsError(error)}`,
      );
    }
    try {
      return { kit: parseElectionKit(text), path };
    } catch (error) {
      if (!(error instanceof KitError)) throw error;
      throw new ElectionFileUnusableError(
        `Cannot use election file "${path}": ${error.message}`,
      );
    }
  }
  return undefined;
}
