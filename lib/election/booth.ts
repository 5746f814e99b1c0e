/**
 * The booth's rules, as plain functions over the state a store hands them:
 * who may log in, whether a ballot counts, and what the result says. No
 * sockets, files or clocks: the store supplies the state and the time, the
 * session translates each answer into a reply. Every rule returns its own
 * type, never a wire message or a file line.
 *
 * @module
 */

import { passwordMatches, sealPassword } from "./crypto.ts";
import { canonicalPassword } from "./credentials.ts";
import type { PollsState } from "./polls.ts";

/** A registered voter as the login rule needs them. */
export interface RegisteredVoter {
  /** The voter's name. */
  name: string;
  /** The voter registration number. */
  number: string;
  /** E(K, H(password)): nonce ‖ ciphertext ‖ tag. */
  sealed: Uint8Array;
}

/** One ballot as cast: who, and the 1-based candidate number they chose. */
export interface Ballot {
  /** The logged-in voter's name. */
  voter: string;
  /** The 1-based candidate number, as sent (not yet checked). */
  choice: number;
}

/** A recorded vote as `history` shows it: who and when, never for whom. */
export interface VoteRecord {
  /** The voter's name. */
  voter: string;
  /** When the vote was committed. */
  time: Date;
}

/**
 * What became of one ballot, decided once by {@linkcode decideBallots} and
 * passed on unchanged by the store. Each kind maps to exactly one reply.
 */
export type BallotOutcome =
  | { kind: "recorded"; record: VoteRecord }
  | { kind: "already-voted" }
  | { kind: "not-on-ballot" }
  | { kind: "polls-not-open" }
  | { kind: "polls-closed" };

/** What {@linkcode decideBallots} needs to know of the election. */
export interface BallotStanding {
  /** Candidates on the ballot. */
  candidateCount: number;
  /**
   * The polls at the time of the commit (default `open`): outside them no
   * ballot counts, so one waiting in the queue at the closing is refused.
   */
  polls?: PollsState;
  /**
   * Whether the voter has a committed vote.
   *
   * @param voter A registered voter's name.
   * @returns True once a vote of theirs is committed.
   */
  hasVoted(voter: string): boolean;
}

/** Turnout and totals, as a store reports them. */
export interface Tally {
  /** Registered voters. */
  registered: number;
  /** Votes committed so far. */
  voted: number;
  /** Votes per candidate, index-aligned with the ballot. */
  totals: number[];
}

/** One candidate's total in a result. */
export interface CandidateTally {
  /** The candidate's name. */
  candidate: string;
  /** Votes the candidate received. */
  votes: number;
}

/** The election's result, or that it is not available yet. */
export type ElectionResult =
  | { available: false }
  | {
    available: true;
    /** The candidates with the most votes, in ballot order. */
    winners: string[];
    /** Every candidate's total, in ballot order. */
    totals: CandidateTally[];
    /**
     * Present when the polls closed before everyone voted: how many of the
     * registered voters voted.
     */
    turnout?: { voted: number; registered: number };
  };

/**
 * Step 3, the login rule: checks name, registration number and password
 * together with the election key K. K stays in this object, in the server
 * process; stores only hand over the sealed entries.
 *
 * @example
 * ```ts
 * import { generateKey } from "./crypto.ts";
 *
 * const verifier = new PasswordVerifier(generateKey());
 * verifier.verify(undefined, "Alice", "1234"); // undefined: no such number
 * ```
 */
export class PasswordVerifier {
  readonly #key: Uint8Array;
  readonly #decoy: RegisteredVoter;

  /**
   * Creates the verifier for one election.
   *
   * @param key The election key K, from `symkey`.
   */
  constructor(key: Uint8Array) {
    this.#key = key;
    // An unknown registration number is checked against this decoy so that it
    // costs the same work as a known one: timing does not tell who is
    // registered.
    const decoy = { name: "\u0000", number: "\u0000" };
    this.#decoy = {
      ...decoy,
      sealed: sealPassword(key, decoy, crypto.randomUUID()),
    };
  }

  /**
   * Checks a login against the voter registered under the number typed.
   * Unknown numbers and wrong names do the same work as a wrong password.
   * A password is tried as typed, then, when it can be a generated password
   * typed loosely (lower case, dashes missing or spaces), in the generated
   * form: see {@linkcode canonicalPassword}.
   *
   * @param registered The voter registered under the number typed, if any.
   * @param name The name typed, in any Unicode normalisation form.
   * @param password The password typed.
   * @returns The voter's name when name, number and password are all right.
   */
  verify(
    registered: RegisteredVoter | undefined,
    name: string,
    password: string,
  ): string | undefined {
    const voter = registered ?? this.#decoy;
    const canonical = canonicalPassword(password);
    // Both forms are always tried when they differ, for the decoy too: the
    // work depends on what was typed, never on who is registered.
    const asTyped = passwordMatches(this.#key, voter, voter.sealed, password);
    const asGenerated = canonical !== undefined && canonical !== password &&
      passwordMatches(this.#key, voter, voter.sealed, canonical);
    const matches = asTyped || asGenerated;
    // Roll names are in NFC (the roll refuses others); a name typed in NFD
    // (Zoe and a combining diaeresis) is the same name.
    return matches && voter !== this.#decoy &&
        voter.name === name.normalize("NFC")
      ? voter.name
      : undefined;
  }
}

/**
 * Step 5, the one place a ballot is judged: it counts when its choice is on
 * the ballot and its voter has not voted, before or earlier in the same
 * group. A choice off the ballot is refused whoever sends it.
 *
 * @example
 * ```ts
 * const outcomes = decideBallots(
 *   [{ voter: "Alice", choice: 1 }, { voter: "Alice", choice: 2 }],
 *   { candidateCount: 2, hasVoted: () => false },
 *   new Date(),
 * );
 * // outcomes[0].kind === "recorded", outcomes[1].kind === "already-voted"
 * ```
 *
 * @param ballots The ballots committed together, in arrival order.
 * @param standing The ballot's size and who has voted before this group.
 * @param time The time a recorded vote gets.
 * @returns One outcome per ballot, in order.
 */
export function decideBallots(
  ballots: readonly Ballot[],
  standing: BallotStanding,
  time: Date,
): BallotOutcome[] {
  const votedNow = new Set<string>();
  return ballots.map(({ voter, choice }): BallotOutcome => {
    const onBallot = Number.isInteger(choice) && choice >= 1 &&
      choice <= standing.candidateCount;
    if (!onBallot) return { kind: "not-on-ballot" };
    const polls = standing.polls ?? "open";
    if (polls !== "open") return { kind: `polls-${polls}` };
    if (standing.hasVoted(voter) || votedNow.has(voter)) {
      return { kind: "already-voted" };
    }
    votedNow.add(voter);
    return { kind: "recorded", record: { voter, time } };
  });
}

/**
 * Step 6: the result, available once every registered voter has voted (the
 * seed's rule) or once the polls have closed, then with the turnout.
 *
 * @param candidates The ballot, in order.
 * @param tally Turnout and totals, index-aligned with `candidates`.
 * @param polls The polls now (default `open`: the seed's election).
 * @returns The winners and totals, or that the result is not available.
 */
export function resultOf(
  candidates: readonly string[],
  tally: Tally,
  polls: PollsState = "open",
): ElectionResult {
  const everyone = tally.voted === tally.registered;
  if (!everyone && polls !== "closed") return { available: false };
  const totals = candidates.map((candidate, i) => ({
    candidate,
    votes: tally.totals[i],
  }));
  const result = {
    available: true,
    winners: winnersOf(totals),
    totals,
  } as const;
  return everyone ? result : {
    ...result,
    turnout: { voted: tally.voted, registered: tally.registered },
  };
}

/**
 * The candidates with the most votes, in ballot order (several on a tie).
 *
 * @param totals Each candidate's total.
 * @returns The winners' names.
 */
export function winnersOf(totals: readonly CandidateTally[]): string[] {
  const top = Math.max(...totals.map((t) => t.votes));
  return totals.filter((t) => t.votes === top).map((t) => t.candidate);
}
