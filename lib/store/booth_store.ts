/**
 * The seam between a voter's session and wherever the election lives. The
 * file store (`data/`, one server) is the embedded default; the PostgreSQL
 * store (any number of booth servers) is the second implementation. Both run
 * the same contract tests (`tests/store_contract.ts`).
 *
 * The election key K never passes through a store's tables: the store hands
 * back a voter's sealed password entry and the booth's rules check it with K,
 * which the server reads from `symkey`.
 *
 * @module
 */

import type { VoterEntry } from "../election/election_files.ts";

/** A recorded vote as `history` shows it: who and when, never for whom. */
export interface VoteRecord {
  /** The voter's name. */
  voter: string;
  /** When the vote was committed. */
  time: Date;
}

/**
 * What became of one ballot, decided once by the booth's rules and returned
 * unchanged by the store. Each kind maps to exactly one wire answer.
 */
export type BallotOutcome =
  | { kind: "recorded"; record: VoteRecord }
  | { kind: "already-voted" }
  | { kind: "not-on-ballot" };

/** Turnout and totals, as the rules need them to answer "view result". */
export interface Tally {
  /** Registered voters. */
  registered: number;
  /** Votes committed so far. */
  voted: number;
  /** Votes per candidate, index-aligned with the ballot. */
  totals: number[];
}

/**
 * The election's state as a session uses it. Implementations apply changes
 * one at a time (the one writer) and make a recorded ballot durable before
 * its promise resolves.
 */
export interface BoothStore extends AsyncDisposable {
  /** The candidates in ballot order; fixed for the life of the election. */
  readonly candidates: readonly string[];
  /**
   * The voter registered under `number`, with their sealed password.
   *
   * @throws {StorageError} When the store cannot be reached.
   */
  findVoter(number: string): Promise<VoterEntry | undefined>;
  /** Whether `voter` has a committed vote. */
  hasVoted(voter: string): Promise<boolean>;
  /**
   * Decides and, when it counts, durably records one ballot.
   *
   * @throws {StorageError} When the vote could not be made durable; nothing
   * was recorded.
   */
  recordBallot(voter: string, choice: number): Promise<BallotOutcome>;
  /** Turnout and totals. */
  tally(): Promise<Tally>;
  /** The voter's own committed vote, or undefined before they vote. */
  voteOf(voter: string): Promise<VoteRecord | undefined>;
  /** Finishes pending commits and releases files, locks or connections. */
  close(): Promise<void>;
}
