/**
 * The file store: the election in a directory (`data/`), served by one
 * process, and its one writer. Every change to `history` and `result` goes
 * through {@linkcode FileBoothStore}, which commits ballots one group at a
 * time; sessions ask it through {@linkcode BoothStore} and never touch files.
 *
 * A commit is crash-safe through the undo journal (`journal.ts`): the
 * journal durably records what `result` was and how long `history` was;
 * then `history` is appended and `result` overwritten in place, both synced;
 * blanking the journal is the commit point, and only after it is a vote
 * acknowledged. Start-up, and any failed commit, rolls a journal back. The
 * journal holds old totals and an old length, never a voter together with a
 * choice.
 *
 * @module
 */

import { decideBallots } from "../election/booth.ts";
import { pollsStateAt } from "../election/polls.ts";
import type { PollsWindow } from "../election/polls.ts";
import { PollsFile } from "./polls_file.ts";
import type {
  Ballot,
  BallotOutcome,
  RegisteredVoter,
  Tally,
  VoteRecord,
} from "../election/booth.ts";
import { formatResult, historyLine } from "../election/election_files.ts";
import { StorageError } from "./booth_store.ts";
import type { BoothStore } from "./booth_store.ts";
import {
  checkElectionFiles,
  ElectionInconsistentError,
  electionPaths,
  lockElection,
  refuseMovedElection,
} from "./election_dir.ts";
import type { ElectionPaths } from "./election_dir.ts";
import { auditElection, readState } from "./election_state.ts";
import type { ElectionState } from "./election_state.ts";
import { denoFileOps } from "./file_ops.ts";
import type { FileOps } from "./file_ops.ts";
import { UndoJournal } from "./journal.ts";
import type { Rollback } from "./journal.ts";

/** Options of {@linkcode FileBoothStore.open}. */
export interface FileStoreOptions {
  /** File operations (tests substitute failing or crashing ones). */
  ops?: FileOps;
  /**
   * The clock whose time, to the second, a recorded vote gets, and which
   * says whether the polls are open.
   */
  now?: () => Date;
  /** Told what start-up recovery undid, when it undid anything. */
  onRollback?: (rollback: Rollback) => void;
  /**
   * Told, once per change of the file, that `polls` became unreadable or
   * malformed while serving (the last good window stays in force).
   */
  onPollsUnreadable?: (error: Error) => void;
  /**
   * The user who must own the directory and key files: this process's
   * (`Deno.uid()`, which needs `--allow-sys=uid`) unless given.
   */
  uid?: number | null;
}

interface QueuedBallot extends Ballot {
  resolve: (outcome: BallotOutcome) => void;
  reject: (error: StorageError) => void;
}

/**
 * The election's one writer on the file system: loads and checks the files
 * at start, then commits ballots in groups (one set of fsyncs covers every
 * ballot waiting), each durably and atomically, acknowledging none before it
 * is durable. It holds the election's lock until closed.
 *
 * @example
 * ```ts
 * await using store = await FileBoothStore.open("data");
 * const outcome = await store.recordBallot("Alice", 1);
 * // outcome.kind: "recorded", "already-voted" or "not-on-ballot"
 * ```
 */
export class FileBoothStore implements BoothStore {
  /** The candidates in ballot order. */
  readonly candidates: readonly string[];
  readonly #paths: ElectionPaths;
  readonly #ops: FileOps;
  readonly #now: () => Date;
  readonly #journal: UndoJournal;
  readonly #polls: PollsFile;
  readonly #votersByNumber = new Map<string, RegisteredVoter>();
  readonly #votes = new Map<string, VoteRecord>();
  #totals: number[];
  #historyBytes: number | undefined;
  #queue: QueuedBallot[] = [];
  #writing: Promise<void> | undefined;
  #needsRollback = false;
  #closing: Promise<void> | undefined;

  private constructor(
    state: ElectionState,
    paths: ElectionPaths,
    journal: UndoJournal,
    historyBytes: number | undefined,
    ops: FileOps,
    now: () => Date,
    polls: PollsFile,
  ) {
    this.candidates = [...state.candidates];
    this.#totals = [...state.totals];
    for (const { name, number, sealed } of state.voters) {
      this.#votersByNumber.set(number, { name, number, sealed });
    }
    for (const entry of state.history) {
      this.#votes.set(entry.name, {
        voter: entry.name,
        time: new Date(entry.time),
      });
    }
    this.#paths = paths;
    this.#journal = journal;
    this.#historyBytes = historyBytes;
    this.#ops = ops;
    this.#now = now;
    this.#polls = polls;
  }

  /**
   * Opens the election in `dir`: checks that its directory and key files
   * are private and that no file is a link, takes its lock, rolls back a
   * vote a crash interrupted, then loads the files and refuses inconsistent
   * ones. Nothing is written before the checks pass.
   *
   * @param dir The election directory.
   * @param options File operations, clock and recovery report.
   * @returns The store, which the caller closes.
   * @throws {NoElectionError} When `dir` holds no election.
   * @throws {ExposedFileError} When the directory or a key file is not
   * private.
   * @throws {UnsafeFileError} When an election file is a link.
   * @throws {ElectionLockedError} When another process serves it.
   * @throws {ElectionMovedError} When it was moved into a database.
   * @throws {ElectionFileError} When a file is missing or malformed.
   * @throws {ElectionInconsistentError} When the files disagree.
   */
  static async open(
    dir: string,
    options: FileStoreOptions = {},
  ): Promise<FileBoothStore> {
    const ops = options.ops ?? denoFileOps();
    const paths = electionPaths(dir);
    try {
      await checkElectionFiles(
        paths,
        options.uid === undefined ? Deno.uid() : options.uid,
      );
      await lockElection(paths, ops);
      // Again under the lock: a move into a database may have ended between
      // the checks above and taking the lock.
      await refuseMovedElection(paths);
      const journal = await UndoJournal.open(paths, ops);
      const undone = await journal.rollBack();
      if (undone !== undefined) options.onRollback?.(undone);
      const state = await readState(paths, ops, undefined);
      const problems = auditElection(state, paths);
      if (problems.length > 0) throw new ElectionInconsistentError(problems);
      const now = options.now ?? (() => new Date());
      return new FileBoothStore(
        state,
        paths,
        journal,
        await ops.size(paths.history),
        ops,
        now,
        await PollsFile.load(paths.polls, {
          nowMs: () => now().getTime(),
          onUnreadable: options.onPollsUnreadable,
        }),
      );
    } catch (error) {
      ops.close();
      throw error;
    }
  }

  /**
   * The voter registered under a registration number, from memory.
   *
   * @param number The registration number typed.
   * @returns The voter with their sealed password, or undefined.
   */
  findVoter(number: string): Promise<RegisteredVoter | undefined> {
    return Promise.resolve(this.#votersByNumber.get(number));
  }

  /**
   * Whether a voter has a committed vote.
   *
   * @param voter A registered voter's name.
   * @returns True once a vote of theirs is durable.
   */
  hasVoted(voter: string): Promise<boolean> {
    return Promise.resolve(this.#votes.has(voter));
  }

  /**
   * The voter's own committed vote, as `history` holds it.
   *
   * @param voter A registered voter's name.
   * @returns Who and when (to the second), or undefined before they vote.
   */
  voteOf(voter: string): Promise<VoteRecord | undefined> {
    return Promise.resolve(this.#votes.get(voter));
  }

  /**
   * Turnout and totals of the committed votes.
   *
   * @returns Registered voters, votes cast and each candidate's total.
   */
  tally(): Promise<Tally> {
    return Promise.resolve({
      registered: this.#votersByNumber.size,
      voted: this.#votes.size,
      totals: [...this.#totals],
    });
  }

  /**
   * Step 5: judges a ballot with {@linkcode decideBallots} inside the
   * commit, so racing sessions of one voter cast one vote, and records it
   * durably when it counts.
   *
   * @param voter A logged-in voter's name.
   * @param choice The 1-based candidate number as sent.
   * @returns The rules' outcome; `recorded` once durable.
   * @throws {StorageError} When the vote could not be made durable (the
   * files are then as they were), or the store is closed.
   */
  recordBallot(voter: string, choice: number): Promise<BallotOutcome> {
    if (this.#closing) {
      return Promise.reject(
        new StorageError(`The election store of ${this.#paths.dir}/ is closed`),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ voter, choice, resolve, reject });
      this.#writing ??= this.#drain();
    });
  }

  /**
   * {@inheritDoc BoothStore.pollsWindow}
   *
   * Here: the `polls` file, re-read at most once a second. Once it says
   * closed, this resolves only when no ballot is being committed: a vote
   * decided just before the closing is in the totals shown after it.
   */
  async pollsWindow(): Promise<PollsWindow> {
    const window = await this.#polls.window();
    if (pollsStateAt(window, this.#now()) === "closed") await this.idle();
    return window;
  }

  /** Resolves once every ballot handed to {@linkcode recordBallot} is settled. */
  async idle(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /**
   * Refuses new ballots, waits for pending ones, then closes the files kept
   * open and releases the election's lock. Calling it again does nothing.
   */
  close(): Promise<void> {
    this.#closing ??= this.idle().finally(() => this.#ops.close());
    return this.#closing;
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
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
    // A first look with the cached window: a group in which nothing counts
    // (already voted, not on the ballot, polls closed) writes nothing. The
    // polls only ever close, so a cached "closed" is never wrong.
    const early = this.#decide(group, await this.#polls.window(), this.#now());
    if (!early.some((outcome) => outcome.kind === "recorded")) {
      group.forEach((ballot, i) => ballot.resolve(early[i]));
      return;
    }
    let outcomes: BallotOutcome[];
    try {
      outcomes = await this.#writeDurably(group);
    } catch (error) {
      const failure = new StorageError(
        `Cannot record a vote in ${this.#paths.dir}/: ${describe(error)}`,
        { cause: error },
      );
      await this.#tryRollBack();
      group.forEach((ballot) => ballot.reject(failure));
      return;
    }
    group.forEach((ballot, i) => ballot.resolve(outcomes[i]));
  }

  #decide(
    group: readonly Ballot[],
    polls: PollsWindow,
    now: Date,
  ): BallotOutcome[] {
    // `history` keeps whole seconds: a vote reads the same before and after
    // a restart.
    const time = new Date(Math.floor(now.getTime() / 1000) * 1000);
    return decideBallots(group, {
      candidateCount: this.candidates.length,
      hasVoted: (voter) => this.#votes.has(voter),
      polls: pollsStateAt(polls, now),
    }, time);
  }

  async #writeDurably(group: readonly Ballot[]): Promise<BallotOutcome[]> {
    const ops = this.#ops;
    const paths = this.#paths;
    if (this.#needsRollback) {
      await this.#journal.rollBack();
      this.#needsRollback = false;
    }
    await this.#journal.record({
      historyBytes: this.#historyBytes ?? null,
      result: formatResult(this.candidates, this.#totals),
    });
    // Decided only now, with the journal durable, on the polls file as it is
    // now, at a time taken now: `server close` replaces the file and then
    // waits for a blank journal (lib/store/officials.ts), so a vote decided
    // on the old file is durable before `close` returns, and a ballot still
    // queued when the polls close is not counted.
    const now = this.#now();
    const outcomes = this.#decide(group, await this.#polls.current(), now);
    const totals = [...this.#totals];
    const records: VoteRecord[] = [];
    group.forEach((ballot, i) => {
      const outcome = outcomes[i];
      if (outcome.kind !== "recorded") return;
      totals[ballot.choice - 1]++;
      records.push(outcome.record);
    });
    const appended = records
      .map((record) => `${historyLine(record.voter, record.time)}\n`)
      .join("");
    if (records.length > 0) {
      // With the journal durable, history and result may reach the disk in
      // either order: they are synced together.
      ops.append(paths.history, appended);
      ops.overwrite(paths.result, formatResult(this.candidates, totals));
      await Promise.all([
        ops.sync(paths.history),
        ops.sync(paths.result),
        // The first vote creates history: its directory entry must be durable.
        this.#historyBytes === undefined ? ops.syncDir(paths.dir) : undefined,
      ]);
    }
    await this.#journal.blank();
    if (records.length > 0) {
      this.#totals = totals;
      for (const record of records) this.#votes.set(record.voter, record);
      this.#historyBytes = (this.#historyBytes ?? 0) +
        new TextEncoder().encode(appended).length;
    }
    return outcomes;
  }

  async #tryRollBack(): Promise<void> {
    try {
      await this.#journal.rollBack();
    } catch {
      // The disk refuses even the rollback; the journal stays, and the next
      // commit (or the next start) rolls back before writing anything.
      this.#needsRollback = true;
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
