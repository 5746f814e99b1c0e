/**
 * The one writer of election state. Every change to `history` and `result`
 * goes through {@linkcode ElectionStore}, which commits ballots one group at a
 * time; sessions ask it and never touch files.
 *
 * A commit is crash-safe through an undo journal, as SQLite's rollback
 * journal: before anything changes, `journal` durably records what `result`
 * was and how long `history` was, with a SHA-256 checksum. Then `history` is
 * appended and synced, `result` is overwritten in place and synced (safe:
 * the journal holds the old copy), and emptying the journal is the commit
 * point (SQLite's `journal_mode=TRUNCATE`); only after it is a vote
 * acknowledged. Start-up, and any failed commit, rolls a journal back. A
 * journal whose checksum fails was torn by a crash while it was being
 * written, before `history` or `result` were touched, and is discarded. The
 * journal holds old totals and an old length, never a voter together with
 * a choice.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { auditElection, Election } from "../election/booth.ts";
import type { ElectionState, PendingBallot } from "../election/booth.ts";
import {
  formatKey,
  generateKey,
  parseKey,
  sealPassword,
} from "../election/crypto.ts";
import {
  ElectionFileError,
  formatCandidates,
  formatPasswords,
  formatResult,
  parseCandidates,
  parseHistory,
  parsePasswords,
  parseResult,
} from "../election/election_files.ts";
import type { RollEntry } from "../election/election_files.ts";
import {
  denoFileOps,
  describeFsError,
  replaceFileDurably,
} from "./file_ops.ts";
import type { FileOps } from "./file_ops.ts";

/** Paths of an election's files. */
export interface ElectionPaths {
  /** The election directory itself. */
  dir: string;
  /** `symkey`: the election key K. */
  symkey: string;
  /** `passwords`: the voter file. */
  passwords: string;
  /** `candidates`: the ballot. */
  candidates: string;
  /** `result`: totals per candidate. */
  result: string;
  /** `history`: who voted when. */
  history: string;
  /** `journal`: the undo journal of the commit in progress. */
  journal: string;
  /** `lock`: held by the one process writing the election. */
  lock: string;
}

/**
 * The paths of the election files in `dir`.
 *
 * @param dir The election directory, e.g. `data`.
 * @returns Each file's path.
 */
export function electionPaths(dir: string): ElectionPaths {
  return {
    dir,
    symkey: join(dir, "symkey"),
    passwords: join(dir, "passwords"),
    candidates: join(dir, "candidates"),
    result: join(dir, "result"),
    history: join(dir, "history"),
    journal: join(dir, "journal"),
    lock: join(dir, "lock"),
  };
}

/** Thrown when a directory holds no election at all. */
export class NoElectionError extends Error {
  /**
   * Creates the error for `dir`.
   *
   * @param dir The directory.
   */
  constructor(dir: string) {
    super(`No election in ${dir}/: run \`deno task server init\``);
    this.name = "NoElectionError";
  }
}

/** Thrown when another process is already writing the election. */
export class ElectionLockedError extends Error {
  /**
   * Creates the error for `dir`.
   *
   * @param dir The election directory.
   */
  constructor(dir: string) {
    super(
      `Another server is serving the election in ${dir}/: stop it first (only one process may write an election)`,
    );
    this.name = "ElectionLockedError";
  }
}

/** Thrown by {@linkcode ElectionStore.open} when the files disagree. */
export class ElectionInconsistentError extends Error {
  /** Every problem found, one line each. */
  readonly problems: string[];

  /**
   * Creates the error from every problem found.
   *
   * @param problems The problems, the first of which becomes the message.
   */
  constructor(problems: string[]) {
    super(problems[0]);
    this.name = "ElectionInconsistentError";
    this.problems = problems;
  }
}

/** Thrown when a vote cannot be made durable (disk full, I/O error, ...). */
export class StorageError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StorageError";
  }
}

/** Options of {@linkcode createElection}. */
export interface CreateElectionOptions {
  /** The voter roll, with passwords in clear. */
  voters: RollEntry[];
  /** The candidates in ballot order. */
  candidates: string[];
  /** Replace an existing election in the directory. */
  force?: boolean;
  /** Called now and then while passwords are encrypted. */
  onProgress?: (done: number, total: number) => void;
  /** File operations (tests substitute their own). */
  ops?: FileOps;
}

/**
 * `server init`: writes a new election: a fresh K in `symkey`, `passwords`,
 * `candidates` and a `result` of zeros; removes any `history`.
 *
 * @param dir The election directory; created (mode 0700) when missing.
 * @param options The voter roll, the ballot and whether to replace.
 * @throws {Error} When an election exists and `force` is not set.
 */
export async function createElection(
  dir: string,
  options: CreateElectionOptions,
): Promise<void> {
  const ops = options.ops ?? denoFileOps();
  const paths = electionPaths(dir);
  if (!options.force) {
    for (const path of [paths.symkey, paths.passwords, paths.history]) {
      if (await ops.size(path) !== undefined) {
        throw new Error(
          `An election already exists in ${dir}/ ("${path}"): use --force to replace it`,
        );
      }
    }
  }
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  if (!await ops.lock(paths.lock)) {
    ops.close();
    throw new ElectionLockedError(dir);
  }
  try {
    const key = generateKey();
    const total = options.voters.length;
    const lines = options.voters.map((voter, i) => {
      if (i % 1000 === 0) options.onProgress?.(i, total);
      return {
        name: voter.name,
        number: voter.number,
        encrypted: sealPassword(key, voter, voter.password),
      };
    });
    options.onProgress?.(total, total);
    // The history goes first: a half-done re-initialisation must never pair
    // an old history with a new voter roll.
    await ops.remove(paths.journal);
    await ops.remove(paths.history);
    await replaceFileDurably(ops, paths.symkey, formatKey(key));
    await replaceFileDurably(ops, paths.passwords, formatPasswords(lines));
    await replaceFileDurably(
      ops,
      paths.candidates,
      formatCandidates(options.candidates),
    );
    await replaceFileDurably(
      ops,
      paths.result,
      formatResult(options.candidates, options.candidates.map(() => 0)),
    );
  } finally {
    ops.close();
  }
}

/** An election as read from disk, without changing anything. */
export interface ElectionReport {
  /** The files' contents as the server would load them. */
  state: ElectionState;
  /** Inconsistencies found; empty when the files agree. */
  problems: string[];
  /** Whether a journal from an interrupted vote awaits rollback. */
  interruptedVote: boolean;
}

/**
 * Reads and checks an election without writing: what `server verify`
 * reports. A journal left by an interrupted vote is applied in memory, as
 * start-up recovery would apply it on disk.
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
  const journal = await readJournal(paths, ops);
  const valid = journal.kind === "valid" ? journal.journal : undefined;
  try {
    const state = await readState(paths, ops, valid);
    return {
      state,
      problems: auditElection(state, paths),
      interruptedVote: journal.kind !== "empty",
    };
  } finally {
    ops.close();
  }
}

/** Options of {@linkcode ElectionStore.open}. */
export interface StoreOptions {
  /** File operations (tests substitute failing or crashing ones). */
  ops?: FileOps;
  /** The clock written to `history`. */
  now?: () => Date;
}

/** What became of a ballot. */
export type VoteOutcome = "recorded" | "already-voted" | "invalid-choice";

interface QueuedBallot extends PendingBallot {
  resolve: (outcome: VoteOutcome) => void;
  reject: (error: StorageError) => void;
}

/**
 * The election's one writer: loads and checks the files at start, then
 * commits ballots in groups (one set of fsyncs covers every ballot waiting),
 * each durably and atomically, acknowledging none before it is durable.
 *
 * @example
 * ```ts
 * const store = await ElectionStore.open("data");
 * const voter = store.election.login("Alice", "1123456", "1234");
 * if (voter) await store.recordVote(voter, 1); // "recorded"
 * ```
 */
export class ElectionStore {
  /** The election's rules and state in memory (read-only for callers). */
  readonly election: Election;
  readonly #paths: ElectionPaths;
  readonly #ops: FileOps;
  readonly #now: () => Date;
  #historyBytes: number | undefined;
  #queue: QueuedBallot[] = [];
  #writing: Promise<void> | undefined;
  #needsRollback = false;

  private constructor(
    election: Election,
    paths: ElectionPaths,
    historyBytes: number | undefined,
    ops: FileOps,
    now: () => Date,
  ) {
    this.election = election;
    this.#paths = paths;
    this.#historyBytes = historyBytes;
    this.#ops = ops;
    this.#now = now;
  }

  /**
   * Opens the election in `dir`: rolls back a vote a crash interrupted, then
   * loads the files and refuses inconsistent ones.
   *
   * @param dir The election directory.
   * @param options File operations and clock.
   * @returns The store.
   * @throws {NoElectionError} When `dir` holds no election.
   * @throws {ElectionFileError} When a file is missing or malformed.
   * @throws {ElectionInconsistentError} When the files disagree.
   */
  static async open(
    dir: string,
    options: StoreOptions = {},
  ): Promise<ElectionStore> {
    const ops = options.ops ?? denoFileOps();
    const paths = electionPaths(dir);
    try {
      const [symkey, passwords] = await Promise.all([
        ops.size(paths.symkey),
        ops.size(paths.passwords),
      ]);
      if (symkey === undefined && passwords === undefined) {
        throw new NoElectionError(dir);
      }
      // Two servers on one election would each keep their own "already
      // voted?" index: a voter could vote once on each.
      if (!await ops.lock(paths.lock)) throw new ElectionLockedError(dir);
      await rollBackInterruptedVote(paths, ops);
      const state = await readState(paths, ops, undefined);
      const problems = auditElection(state, paths);
      if (problems.length > 0) throw new ElectionInconsistentError(problems);
      return new ElectionStore(
        new Election(state),
        paths,
        await ops.size(paths.history),
        ops,
        options.now ?? (() => new Date()),
      );
    } catch (error) {
      ops.close();
      throw error;
    }
  }

  /**
   * Step 5: records a ballot durably. The "already voted?" check happens
   * here, inside the commit, so racing sessions of one voter cast one vote.
   *
   * @param voter A logged-in voter's name.
   * @param choice The 1-based candidate number.
   * @returns `recorded` once durable; `already-voted` or `invalid-choice`
   * when nothing was written.
   * @throws {StorageError} When the vote could not be made durable; the
   * files are then as they were.
   */
  recordVote(voter: string, choice: number): Promise<VoteOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ voter, choice, resolve, reject });
      this.#writing ??= this.#drain();
    });
  }

  /** Resolves once every ballot handed to {@linkcode recordVote} is settled. */
  async idle(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Waits for pending ballots, then closes the files kept open. */
  async close(): Promise<void> {
    await this.idle();
    this.#ops.close();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue;
        this.#queue = [];
        await this.#commit(group);
      }
    } finally {
      this.#writing = undefined;
    }
  }

  async #commit(group: QueuedBallot[]): Promise<void> {
    const plan = this.election.plan(group, this.#now());
    const refuse = (ballot: QueuedBallot) =>
      ballot.resolve(
        this.election.hasVoted(ballot.voter) ||
          group.some((b, i) => b.voter === ballot.voter && plan.accepted[i])
          ? "already-voted"
          : "invalid-choice",
      );
    if (plan.historyLines.length === 0) {
      group.forEach(refuse);
      return;
    }
    const appended = plan.historyLines.map((line) => `${line}\n`).join("");
    try {
      await this.#writeDurably(plan.totals, appended);
    } catch (error) {
      const failure = new StorageError(
        `Cannot record a vote in ${this.#paths.dir}/: ${describe(error)}`,
        { cause: error },
      );
      await this.#tryRollBack();
      group.forEach((ballot) => ballot.reject(failure));
      return;
    }
    this.election.apply(plan);
    this.#historyBytes = (this.#historyBytes ?? 0) +
      new TextEncoder().encode(appended).length;
    group.forEach((ballot, i) =>
      plan.accepted[i] ? ballot.resolve("recorded") : refuse(ballot)
    );
  }

  async #writeDurably(totals: number[], appended: string): Promise<void> {
    const ops = this.#ops;
    const paths = this.#paths;
    if (this.#needsRollback) {
      await rollBackInterruptedVote(paths, ops);
      this.#needsRollback = false;
    }
    ops.overwrite(
      paths.journal,
      formatJournal({
        historyBytes: this.#historyBytes ?? null,
        result: formatResult(this.election.candidates, this.election.totals),
      }),
    );
    await ops.sync(paths.journal);
    // With the journal durable, history and result may reach the disk in
    // either order: they are synced together.
    ops.append(paths.history, appended);
    ops.overwrite(paths.result, formatResult(this.election.candidates, totals));
    await Promise.all([
      ops.sync(paths.history),
      ops.sync(paths.result),
      // The first vote creates history: its directory entry must be durable.
      this.#historyBytes === undefined ? ops.syncDir(paths.dir) : undefined,
    ]);
    // The commit point: an empty journal.
    ops.overwrite(paths.journal, "");
    await ops.sync(paths.journal);
  }

  async #tryRollBack(): Promise<void> {
    try {
      await rollBackInterruptedVote(this.#paths, this.#ops);
    } catch {
      // The disk refuses even the rollback; the journal stays, and the next
      // commit (or the next start) rolls back before writing anything.
      this.#needsRollback = true;
    }
  }
}

/** The undo journal: what to restore if a commit does not finish. */
interface Journal {
  /** Length of `history` before the commit; null when it did not exist. */
  historyBytes: number | null;
  /** The text of `result` before the commit. */
  result: string;
}

/** `<SHA-256 of the JSON, hex> <JSON>\n`: a torn write fails the checksum. */
function formatJournal(journal: Journal): string {
  const body = JSON.stringify(journal);
  return `${sha256(body)} ${body}\n`;
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** What the journal file holds. */
type JournalState =
  | { kind: "empty" }
  | { kind: "torn" }
  | { kind: "valid"; journal: Journal };

async function readJournal(
  paths: ElectionPaths,
  ops: FileOps,
): Promise<JournalState> {
  const text = await ops.readText(paths.journal);
  if (text === undefined || text === "") return { kind: "empty" };
  const match = text.match(/^([0-9a-f]{64}) (.*)\n$/s);
  if (!match || sha256(match[2]) !== match[1]) return { kind: "torn" };
  let value: Partial<Journal> | undefined;
  try {
    value = JSON.parse(match[2]);
  } catch {
    value = undefined;
  }
  if (
    typeof value !== "object" || value === null ||
    typeof value.result !== "string" ||
    !(value.historyBytes === null ||
      (Number.isSafeInteger(value.historyBytes) && value.historyBytes! >= 0))
  ) {
    throw new ElectionFileError(
      "journal file",
      paths.journal,
      "it is not a journal this booth wrote; restore the election from a backup",
    );
  }
  return { kind: "valid", journal: value as Journal };
}

/**
 * Start-up recovery: undoes a commit that a crash or an I/O error left half
 * done, restoring `history`'s length and `result`'s text from the journal,
 * then empties the journal. A torn journal is simply emptied: it was being
 * written when the crash came, before anything else changed.
 */
async function rollBackInterruptedVote(
  paths: ElectionPaths,
  ops: FileOps,
): Promise<void> {
  const state = await readJournal(paths, ops);
  const journalExisted = await ops.size(paths.journal) !== undefined;
  if (state.kind === "valid") {
    const { journal } = state;
    if (journal.historyBytes === null) {
      await ops.remove(paths.history);
      await ops.syncDir(paths.dir);
    } else {
      const size = await ops.size(paths.history);
      if (size === undefined || size < journal.historyBytes) {
        throw new ElectionFileError(
          "history file",
          paths.history,
          `it is shorter than the ${journal.historyBytes} bytes the journal recorded; restore the election from a backup`,
        );
      }
      if (size > journal.historyBytes) {
        ops.truncate(paths.history, journal.historyBytes);
        await ops.sync(paths.history);
      }
    }
    // Rewritten only if the commit got as far as changing it: on a full disk
    // the rollback must succeed without needing new space.
    if (await ops.readText(paths.result) !== journal.result) {
      ops.overwrite(paths.result, journal.result);
      await ops.sync(paths.result);
    }
  }
  if (state.kind !== "empty" || !journalExisted) {
    ops.overwrite(paths.journal, "");
    await ops.sync(paths.journal);
    if (!journalExisted) await ops.syncDir(paths.dir);
  }
}

async function readState(
  paths: ElectionPaths,
  ops: FileOps,
  journal: Journal | undefined,
): Promise<ElectionState> {
  const read = async (path: string, what: string) => {
    try {
      return await ops.readText(path);
    } catch (error) {
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
