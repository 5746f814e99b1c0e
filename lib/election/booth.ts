/**
 * The booth's rules over in-memory state: who may log in, who may vote, when
 * the result is visible and what it says. No sockets, files or clocks: the
 * store feeds it and persists what it decides.
 *
 * @module
 */

import {
  decodeBase64,
  entryAuthenticates,
  passwordMatches,
  sealPassword,
} from "./crypto.ts";
import { historyLine } from "./election_files.ts";
import type { HistoryEntry, VoterEntry } from "./election_files.ts";
import type { CandidateTotal, ResultReply } from "../wire/protocol.ts";

/** What the booth is built from: the contents of the election files. */
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

/** A ballot waiting to be committed: who, and the 1-based candidate number. */
export interface PendingBallot {
  /** The logged-in voter's name. */
  voter: string;
  /** The 1-based candidate number. */
  choice: number;
}

/** What committing a group of ballots would do. */
export interface BallotPlan {
  /** Per ballot, in order: whether it is counted. */
  accepted: boolean[];
  /** Totals after the plan. */
  totals: number[];
  /** `history` lines to append, one per accepted ballot, in order. */
  historyLines: string[];
}

/**
 * The election in memory: the voter roll indexed by registration number, the
 * totals, and who has voted (from `history`), so no request rescans a file.
 */
export class Election {
  /** Candidates in ballot order. */
  readonly candidates: readonly string[];
  readonly #key: Uint8Array;
  readonly #votersByNumber = new Map<string, VoterEntry>();
  readonly #historyByVoter = new Map<string, string>();
  readonly #decoy: VoterEntry;
  #totals: number[];

  /**
   * Builds the in-memory indexes from the files' contents.
   *
   * @param state The election files' contents, already parsed and checked
   * with {@linkcode auditElection}.
   */
  constructor(state: ElectionState) {
    this.candidates = [...state.candidates];
    this.#key = state.key;
    this.#totals = [...state.totals];
    for (const voter of state.voters) {
      this.#votersByNumber.set(voter.number, voter);
    }
    for (const entry of state.history) {
      this.#historyByVoter.set(entry.name, `${entry.name} ${entry.time}`);
    }
    // An unknown registration number is checked against this decoy so that it
    // costs the same work as a known one: timing does not tell who is
    // registered.
    const decoy = { name: "\u0000", number: "\u0000" };
    this.#decoy = {
      ...decoy,
      sealed: decodeBase64(
        sealPassword(state.key, decoy, crypto.randomUUID()),
      )!,
      line: 0,
    };
  }

  /** Registered voters. */
  get voterCount(): number {
    return this.#votersByNumber.size;
  }

  /** Votes cast so far (the sum of the totals). */
  get votesCast(): number {
    return this.#historyByVoter.size;
  }

  /** Votes per candidate, index-aligned with {@linkcode candidates}. */
  get totals(): readonly number[] {
    return this.#totals;
  }

  /**
   * Step 3: checks name, registration number and password together. Unknown
   * numbers and wrong names do the same work as a wrong password.
   *
   * @param name The name typed.
   * @param number The registration number typed.
   * @param password The password typed.
   * @returns The voter's name when all three are right.
   */
  login(name: string, number: string, password: string): string | undefined {
    const voter = this.#votersByNumber.get(number) ?? this.#decoy;
    const matches = passwordMatches(this.#key, voter, voter.sealed, password);
    return matches && voter !== this.#decoy && voter.name === name
      ? voter.name
      : undefined;
  }

  /**
   * Step 4: whether this voter has voted.
   *
   * @param voter A registered voter's name.
   * @returns True once a vote of theirs is committed.
   */
  hasVoted(voter: string): boolean {
    return this.#historyByVoter.has(voter);
  }

  /**
   * Step 7: the voter's own `history` line.
   *
   * @param voter A registered voter's name.
   * @returns `<name> <time>`, or undefined before they vote.
   */
  historyEntry(voter: string): string | undefined {
    return this.#historyByVoter.get(voter);
  }

  /**
   * Step 6: the result, available only once every registered voter has voted.
   *
   * @returns The answer the server sends.
   */
  result(): ResultReply {
    if (this.votesCast !== this.voterCount) {
      return { type: "result", answer: 0 };
    }
    const totals: CandidateTotal[] = this.candidates.map((candidate, i) => ({
      candidate,
      votes: this.#totals[i],
    }));
    return {
      type: "result",
      answer: 1,
      winners: winnersOf(totals),
      totals,
    };
  }

  /**
   * Decides a group of ballots without changing anything: a ballot counts
   * when its voter has not voted, before or earlier in the group, and its
   * choice is on the ballot.
   *
   * @param ballots The ballots, in arrival order.
   * @param time The time written to `history` for this group.
   * @returns What {@linkcode apply} would do.
   */
  plan(ballots: readonly PendingBallot[], time: Date): BallotPlan {
    const totals = [...this.#totals];
    const votedNow = new Set<string>();
    const historyLines: string[] = [];
    const accepted = ballots.map(({ voter, choice }) => {
      if (this.hasVoted(voter) || votedNow.has(voter)) return false;
      if (!isValidChoice(choice, this.candidates.length)) return false;
      votedNow.add(voter);
      totals[choice - 1]++;
      historyLines.push(historyLine(voter, time));
      return true;
    });
    return { accepted, totals, historyLines };
  }

  /**
   * Applies a plan made by {@linkcode plan} once it is durable.
   *
   * @param plan The plan.
   */
  apply(plan: BallotPlan): void {
    this.#totals = [...plan.totals];
    for (const line of plan.historyLines) {
      this.#historyByVoter.set(line.slice(0, line.indexOf(" ")), line);
    }
  }
}

/**
 * Whether a typed candidate number is on a ballot of `count` candidates.
 *
 * @param choice The number typed (1-based).
 * @param count Candidates on the ballot.
 * @returns True for an integer from 1 to `count`.
 */
export function isValidChoice(choice: number, count: number): boolean {
  return Number.isInteger(choice) && choice >= 1 && choice <= count;
}

/**
 * The candidates with the most votes, in ballot order (several on a tie).
 *
 * @param totals Each candidate's total.
 * @returns The winners' names.
 */
export function winnersOf(totals: readonly CandidateTotal[]): string[] {
  const top = Math.max(...totals.map((t) => t.votes));
  return totals.filter((t) => t.votes === top).map((t) => t.candidate);
}

/**
 * Checks that the election files agree with each other: what start-up refuses
 * to serve with and what `server verify` reports.
 *
 * @param state The parsed files.
 * @param paths Paths of `passwords`, `result` and `history`, for messages.
 * @returns One line per problem, each naming the file and line; empty when
 * consistent.
 */
export function auditElection(
  state: ElectionState,
  paths: { passwords: string; result: string; history: string },
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
