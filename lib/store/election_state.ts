/**
 * Reading an election's files and checking that they agree: what start-up
 * loads and refuses, and what `server verify` reports.
 *
 * @module
 */

import { entryAuthenticates, parseKey } from "../election/crypto.ts";
import {
  ElectionFileError,
  parseCandidates,
  parseHistory,
  parsePasswords,
  parseResult,
} from "../election/election_files.ts";
import type { HistoryEntry, VoterEntry } from "../election/election_files.ts";
import { auditWindow } from "../election/polls.ts";
import type { PollsWindow } from "../election/polls.ts";
import { readJournal } from "./journal.ts";
import { readPollsFile } from "./polls_file.ts";
import type { Journal } from "../election/journal_format.ts";
import {
  checkElectionFiles,
  ElectionMovedError,
  electionPaths,
  NoElectionError,
} from "./election_dir.ts";
import { ExposedFileError } from "./private_file.ts";
import type { ElectionPaths } from "./election_dir.ts";
import { denoFileOps, describeFsError, UnsafeFileError } from "./file_ops.ts";
import type { FileOps } from "./file_ops.ts";

/** The contents of an election's files, parsed. */
export interface ElectionState {
  /** The election key K, from `symkey`. */
  key: Uint8Array;
  /** The voter roll, from `passwords`. */
  voters: VoterEntry[];
  /** The ballot, from `candidates`. */
  candidates: string[];
  /** Votes per candidate, index-aligned with `candidates`. */
  totals: number[];
  /** Who voted and when, from `history`. */
  history: HistoryEntry[];
}

/**
 * Reads and parses every election file. With a journal, `result` and
 * `history` are read as the journal would restore them.
 *
 * @param paths The election's paths.
 * @param ops File operations.
 * @param journal A journal to apply in memory, if any.
 * @returns The parsed files.
 * @throws {NoElectionError} When the directory holds no election.
 * @throws {ElectionFileError} When a file is missing, unreadable or
 * malformed.
 */
export async function readState(
  paths: ElectionPaths,
  ops: FileOps,
  journal: Journal | undefined,
): Promise<ElectionState> {
  const read = async (path: string, what: string) => {
    try {
      return await ops.readText(path);
    } catch (error) {
      if (error instanceof UnsafeFileError) throw error;
      throw new ElectionFileError(what, path, describeFsError(error));
    }
  };
  const symkeyText = await read(paths.symkey, "key file");
  const passwordsText = await read(paths.passwords, "voter file");
  if (symkeyText === undefined && passwordsText === undefined) {
    throw new NoElectionError(paths.dir);
  }
  const required = async (path: string, what: string, text?: string) => {
    const content = text ?? await read(path, what);
    if (content === undefined) {
      throw new ElectionFileError(what, path, "it does not exist");
    }
    return content;
  };
  const key = parseKey(await required(paths.symkey, "key file", symkeyText));
  if (key === undefined) {
    throw new ElectionFileError(
      "key file",
      paths.symkey,
      "line 1 is not 32 bytes of base64",
      1,
    );
  }
  const voters = parsePasswords(
    await required(paths.passwords, "voter file", passwordsText),
    paths.passwords,
  );
  const candidates = parseCandidates(
    await required(paths.candidates, "candidates file"),
    paths.candidates,
  );
  const resultText = journal?.result ??
    await required(paths.result, "result file");
  const totals = parseResult(resultText, paths.result, candidates);
  let historyText = await read(paths.history, "history file") ?? "";
  if (journal !== undefined) {
    const kept = new TextEncoder().encode(historyText).subarray(
      0,
      journal.historyBytes ?? 0,
    );
    historyText = new TextDecoder().decode(kept);
  }
  const history = parseHistory(historyText, paths.history);
  return { key, voters, candidates, totals, history };
}

/**
 * Checks that the election files agree with each other: every voter entry
 * authenticates under K, nobody votes twice or unregistered, and the totals
 * add up to the history.
 *
 * @param state The parsed files.
 * @param paths Paths of `passwords`, `result` and `history`, for messages.
 * @returns One line per problem, each naming the file and line; empty when
 * consistent.
 */
export function auditElection(
  state: ElectionState,
  paths: Pick<ElectionPaths, "passwords" | "result" | "history">,
): string[] {
  const problems: string[] = [];
  for (const voter of state.voters) {
    if (!entryAuthenticates(state.key, voter, voter.sealed)) {
      problems.push(
        `Voter file "${paths.passwords}": line ${voter.line} ("${voter.name}") does not authenticate under the key in symkey`,
      );
    }
  }
  const registered = new Set(state.voters.map((v) => v.name));
  const firstLine = new Map<string, number>();
  for (const entry of state.history) {
    const earlier = firstLine.get(entry.name);
    if (earlier !== undefined) {
      problems.push(
        `History file "${paths.history}": line ${entry.line} records a second vote by "${entry.name}" (first on line ${earlier})`,
      );
    } else {
      firstLine.set(entry.name, entry.line);
    }
    if (!registered.has(entry.name)) {
      problems.push(
        `History file "${paths.history}": line ${entry.line} names "${entry.name}", who is not in passwords`,
      );
    }
  }
  const total = state.totals.reduce((sum, n) => sum + n, 0);
  if (total !== state.history.length) {
    problems.push(
      `Result file "${paths.result}": totals add up to ${total} votes but history has ${state.history.length} lines`,
    );
  }
  return problems;
}

/** An election as read from disk, without changing anything. */
export interface ElectionReport {
  /** The files' contents as the server would load them. */
  state: ElectionState;
  /** Inconsistencies found; empty when the files agree. */
  problems: string[];
  /** Whether a journal from an interrupted vote awaits rollback. */
  interruptedVote: boolean;
  /** When the polls open and close, from `polls`. */
  polls: PollsWindow;
}

/**
 * Reads and checks an election without writing: what `server verify`
 * reports. A journal left by an interrupted vote is applied in memory, as
 * start-up recovery would apply it on disk.
 *
 * @example
 * ```ts
 * const { problems } = await inspectElection("data");
 * if (problems.length === 0) console.log("consistent");
 * ```
 *
 * @param dir The election directory.
 * @param ops File operations (tests substitute their own).
 * @returns The state and every problem found.
 * @throws {NoElectionError} When the directory holds no election.
 * @throws {ElectionFileError} When a file is missing or malformed.
 */
export async function inspectElection(
  dir: string,
  ops: FileOps = denoFileOps(),
): Promise<ElectionReport> {
  const paths = electionPaths(dir);
  try {
    const { state, interruptedVote } = await readRecoveredState(paths, ops);
    const polls = await readPollsFile(paths.polls, ops);
    return {
      state,
      problems: [
        ...auditElection(state, paths),
        ...auditWindow(polls, state.history, paths.history),
      ],
      interruptedVote,
      polls,
    };
  } finally {
    ops.close();
  }
}

/** What `server verify` found, from {@linkcode verifyElection}. */
export interface VerifyReport {
  /**
   * Voters who voted and voters registered, or undefined when the voter
   * roll or the history cannot be read.
   */
  turnout: { voted: number; registered: number } | undefined;
  /** Every problem, one line each; empty when the server would serve it. */
  problems: string[];
  /** Whether a journal from an interrupted vote awaits rollback. */
  interruptedVote: boolean;
}

/**
 * Checks an election as `server verify` reports it, without writing: what
 * the server refuses at start-up (a directory or key file open to others,
 * a link), then every file and whether they agree. Unlike
 * {@linkcode inspectElection} a malformed file is one problem among the
 * others, not an exception, so the turnout is known whenever the roll and
 * the history can be read.
 *
 * @example
 * ```ts
 * const { turnout, problems } = await verifyElection("data");
 * ```
 *
 * @param dir The election directory.
 * @param options File operations, and the user who must own the directory
 * and key files (this process's unless given; null skips the check).
 * @returns The turnout and every problem found.
 * @throws {NoElectionError} When the directory holds no election.
 * @throws {NotADirectoryError} When `dir` is not a directory.
 */
export async function verifyElection(
  dir: string,
  options: { ops?: FileOps; uid?: number | null } = {},
): Promise<VerifyReport> {
  const paths = electionPaths(dir);
  const problems: string[] = [];
  const fileProblem = (error: unknown) => {
    if (
      !(error instanceof ElectionFileError ||
        error instanceof UnsafeFileError ||
        error instanceof ExposedFileError ||
        error instanceof ElectionMovedError)
    ) {
      throw error;
    }
    if (!problems.includes(error.message)) problems.push(error.message);
  };
  try {
    await checkElectionFiles(
      paths,
      options.uid === undefined ? Deno.uid() : options.uid,
    );
  } catch (error) {
    fileProblem(error);
  }
  const ops = options.ops ?? denoFileOps();
  try {
    let recovered;
    try {
      recovered = await readRecoveredState(paths, ops);
    } catch (error) {
      fileProblem(error);
      return { turnout: undefined, problems, interruptedVote: false };
    }
    const { state, interruptedVote } = recovered;
    problems.push(...auditElection(state, paths));
    try {
      const polls = await readPollsFile(paths.polls, ops);
      problems.push(...auditWindow(polls, state.history, paths.history));
    } catch (error) {
      fileProblem(error);
    }
    return {
      turnout: { voted: state.history.length, registered: state.voters.length },
      problems,
      interruptedVote,
    };
  } finally {
    ops.close();
  }
}

/**
 * The election's files as start-up recovery would leave them: a journal
 * left by an interrupted vote applied in memory.
 */
async function readRecoveredState(
  paths: ElectionPaths,
  ops: FileOps,
): Promise<{ state: ElectionState; interruptedVote: boolean }> {
  const journal = await readJournal(paths, ops);
  const state = await readState(
    paths,
    ops,
    journal.kind === "valid" ? journal.journal : undefined,
  );
  return { state, interruptedVote: journal.kind !== "empty" };
}

/**
 * Reads the election key K from `symkey`, for the server process's login
 * rule: K never passes through a store.
 *
 * @param dir The election directory.
 * @param ops File operations (tests substitute their own).
 * @returns K.
 * @throws {ElectionFileError} When `symkey` is missing, unreadable or not
 * a key.
 */
export async function readElectionKey(
  dir: string,
  ops: FileOps = denoFileOps(),
): Promise<Uint8Array> {
  const path = electionPaths(dir).symkey;
  try {
    let text;
    try {
      text = await ops.readText(path);
    } catch (error) {
      if (error instanceof UnsafeFileError) throw error;
      throw new ElectionFileError("key file", path, describeFsError(error));
    }
    if (text === undefined) {
      throw new ElectionFileError("key file", path, "it does not exist");
    }
    const key = parseKey(text);
    if (key === undefined) {
      throw new ElectionFileError(
        "key file",
        path,
        "line 1 is not 32 bytes of base64",
        1,
      );
    }
    return key;
  } finally {
    ops.close();
  }
}
