/**
 * The seam between a voter's session and wherever the election lives. The
 * file store (`data/`, one server; `file_store.ts`) is the embedded default;
 * a PostgreSQL store (any number of booth servers) is the second
 * implementation. Both run the same contract tests (`tests/store_contract.ts`).
 *
 * The election key K never passes through a store: the store hands back a
 * voter's sealed password entry and the booth's rules
 * ({@linkcode PasswordVerifier}) check it with K, which the server process
 * holds. Each ballot is judged by the rules ({@linkcode decideBallots}), inside
 * the store's one writer, and its outcome returned unchanged.
 *
 * @module
 */

import type {
  BallotOutcome,
  RegisteredVoter,
  Tally,
  VoteRecord,
} from "../election/booth.ts";
import type { PollsWindow } from "../election/polls.ts";

export type {
  BallotOutcome,
  RegisteredVoter,
  Tally,
  VoteRecord,
} from "../election/booth.ts";

/**
 * The election's state as a session uses it. Implementations apply changes
 * one at a time (the one writer), judge each ballot with
 * {@linkcode decideBallots}, and make a recorded ballot durable before its
 * promise resolves. Whoever opens a store closes it, with
 * {@linkcode BoothStore.close} or `await using`.
 *
 * @example
 * ```ts
 * import { PasswordVerifier } from "../election/booth.ts";
 *
 * async function castVote(store: BoothStore, verifier: PasswordVerifier) {
 *   const voter = verifier.verify(
 *     await store.findVoter("1123456"),
 *     "Alice",
 *     "1234",
 *   );
 *   if (voter !== undefined) await store.recordBallot(voter, 1);
 * }
 * ```
 */
export interface BoothStore extends AsyncDisposable {
  /** The candidates in ballot order; fixed for the life of the election. */
  readonly candidates: readonly string[];
  /**
   * The voter registered under a registration number.
   *
   * @param number The registration number typed.
   * @returns The voter with their sealed password, or undefined.
   * @throws {StorageError} When the store cannot be reached.
   */
  findVoter(number: string): Promise<RegisteredVoter | undefined>;
  /**
   * Whether a voter has a committed vote.
   *
   * @param voter A registered voter's name.
   * @returns True once a vote of theirs is committed.
   * @throws {StorageError} When the store cannot be reached.
   */
  hasVoted(voter: string): Promise<boolean>;
  /**
   * Judges one ballot with the booth's rules and, when it counts, records it
   * durably. Racing ballots of one voter give exactly one `recorded`. The
   * polls are judged as they stand at the commit, never from a cached
   * window: once `server close` has returned, no ballot counts.
   *
   * @param voter A logged-in voter's name.
   * @param choice The 1-based candidate number as sent.
   * @returns The rules' outcome, once durable when `recorded`.
   * @throws {StorageError} When the vote could not be made durable; nothing
   * was recorded.
   */
  recordBallot(voter: string, choice: number): Promise<BallotOutcome>;
  /**
   * Turnout and totals.
   *
   * @returns Registered voters, votes cast and each candidate's total.
   * @throws {StorageError} When the store cannot be reached.
   */
  tally(): Promise<Tally>;
  /**
   * The voter's own committed vote: who and when, never for whom.
   *
   * @param voter A registered voter's name.
   * @returns The record, or undefined before they vote.
   * @throws {StorageError} When the store cannot be reached.
   */
  voteOf(voter: string): Promise<VoteRecord | undefined>;
  /**
   * When the polls open and close, for the menu's early answers. A running
   * server asks on every vote and result request, so an implementation may
   * cache it and re-read at most once a second. Once it says closed, it
   * resolves only when no ballot decided before the closing is still being
   * committed, so the result shown next is final.
   *
   * @returns The current window.
   * @throws {StorageError} When the store cannot be reached.
   */
  pollsWindow(): Promise<PollsWindow>;
  /**
   * Waits for pending ballots, then releases files, locks or connections.
   * Calling it again does nothing.
   */
  close(): Promise<void>;
}

/** Thrown when a store cannot make a vote durable or cannot be reached. */
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
