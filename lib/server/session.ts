/**
 * One voter's session on the server, as a small state machine: login, then
 * the main menu, with the ballot after menu choice 1. It answers each client
 * message and says when to close; it never touches sockets or files.
 *
 * @module
 */

import { resultOf } from "../election/booth.ts";
import type {
  BallotOutcome,
  PasswordVerifier,
  Tally,
} from "../election/booth.ts";
import { pollsStateAt } from "../election/polls.ts";
import type { PollsState } from "../election/polls.ts";
import { historyLine } from "../election/election_files.ts";
import type { LoginThrottle } from "./login_throttle.ts";
import type { Lock } from "../election/lockout_rules.ts";
import { MenuChoice, SUPPORTED_VERSIONS } from "../wire/protocol.ts";
import type {
  ClientMessage,
  ResultReply,
  ServerMessage,
} from "../wire/protocol.ts";
import { StorageError } from "../store/booth_store.ts";
import type { BoothStore } from "../store/booth_store.ts";

/** A session event worth a line in the security log. Never a password or a choice. */
export type SessionEvent =
  | { kind: "login-ok"; voter: string }
  | { kind: "login-failed"; number: string }
  | { kind: "login-locked"; number: string; lock: Lock }
  | { kind: "lockout"; number: string; lock: Lock }
  | { kind: "vote-recorded"; voter: string }
  | { kind: "vote-refused"; voter: string; reason: string }
  | { kind: "protocol-error"; detail: string }
  | { kind: "store-unavailable"; detail: string };

/**
 * What a voter is told when the store cannot answer outside a ballot (a
 * database that is down): nothing was decided, so a login that could not be
 * checked counts toward no lockout.
 */
export const UNAVAILABLE_MESSAGE =
  "The election is unavailable for now; please try again later";

/** Logins one connection may try before it is closed, by default. */
export const MAX_LOGINS_PER_CONNECTION = 3;

/** Options of {@linkcode VoterSession}. */
export interface SessionOptions {
  /** The login rule, holding the election key K. */
  verifier: PasswordVerifier;
  /** The server-wide failed-login counter. */
  throttle: LoginThrottle;
  /** The peer's source address, what the throttle counts failures by. */
  address: string;
  /**
   * Logins one connection may try before it is closed (default
   * {@linkcode MAX_LOGINS_PER_CONNECTION}).
   */
  maxLoginAttempts?: number;
  /** The clock of the polls window, in milliseconds. */
  nowMs?: () => number;
  /** Receives security-log events. */
  onEvent?: (event: SessionEvent) => void;
}

/** The answer to one client message. */
export interface SessionStep {
  /** The message to send. */
  reply: ServerMessage;
  /** Close the connection after sending the reply. */
  close: boolean;
}

type State = "login" | "menu" | "ballot" | "closed";

/**
 * The server side of one connection's conversation.
 *
 * @example
 * ```ts
 * import { PasswordVerifier } from "../election/booth.ts";
 * import { readElectionKey } from "../store/election_state.ts";
 * import { FileBoothStore } from "../store/file_store.ts";
 * import { LoginThrottle } from "./login_throttle.ts";
 * import { MemoryLockoutLedger } from "../store/lockout_ledger.ts";
 *
 * await using store = await FileBoothStore.open("data");
 * const session = new VoterSession(store, {
 *   verifier: new PasswordVerifier(await readElectionKey("data")),
 *   throttle: new LoginThrottle(new MemoryLockoutLedger()),
 *   address: "127.0.0.1",
 * });
 * const step = await session.handle({
 *   type: "login", version: 1, name: "Alice", number: "1123456", password: "1234",
 * });
 * // step.reply: { type: "login", answer: 1, name: "Alice" }
 * ```
 */
export class VoterSession {
  readonly #store: BoothStore;
  readonly #verifier: PasswordVerifier;
  readonly #throttle: LoginThrottle;
  readonly #address: string;
  readonly #maxLoginAttempts: number;
  readonly #nowMs: () => number;
  readonly #onEvent: (event: SessionEvent) => void;
  #state: State = "login";
  #voter: string | undefined;
  #loginAttempts = 0;

  /**
   * Starts a session waiting for a login.
   *
   * @param store The election's state, through the store seam.
   * @param options Login rule, throttle, limits, clock and event sink.
   */
  constructor(store: BoothStore, options: SessionOptions) {
    this.#store = store;
    this.#verifier = options.verifier;
    this.#throttle = options.throttle;
    this.#address = options.address;
    this.#maxLoginAttempts = options.maxLoginAttempts ??
      MAX_LOGINS_PER_CONNECTION;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#onEvent = options.onEvent ?? (() => {});
  }

  /** The logged-in voter's name, once there is one. */
  get voter(): string | undefined {
    return this.#voter;
  }

  /**
   * Answers one client message.
   *
   * @param message A decoded client message.
   * @returns The reply, and whether to close after sending it.
   */
  async handle(message: ClientMessage): Promise<SessionStep> {
    try {
      return await this.#answer(message);
    } catch (error) {
      if (!(error instanceof StorageError)) throw error;
      this.#state = "closed";
      this.#onEvent({ kind: "store-unavailable", detail: error.message });
      return {
        reply: {
          type: "error",
          code: "unavailable",
          message: UNAVAILABLE_MESSAGE,
        },
        close: true,
      };
    }
  }

  async #answer(message: ClientMessage): Promise<SessionStep> {
    if (this.#state === "login" && message.type === "login") {
      return await this.#login(
        message.name,
        message.number,
        message.password,
      );
    }
    if (this.#state === "menu" && message.type === "menu") {
      return await this.#menu(message.choice);
    }
    if (this.#state === "ballot" && message.type === "ballot") {
      return await this.#ballot(message.choice);
    }
    return this.protocolError(
      `Unexpected "${message.type}" message ${
        this.#state === "login" ? "before login" : `in state ${this.#state}`
      }`,
    );
  }

  /**
   * Ends the session for a message that broke the protocol.
   *
   * @param detail What was wrong (for the log and the client).
   * @param code `version` for a login in a version the server does not
   * speak, else `protocol`.
   * @returns An error reply that closes the connection.
   */
  protocolError(
    detail: string,
    code: "protocol" | "version" = "protocol",
  ): SessionStep {
    this.#state = "closed";
    this.#onEvent({ kind: "protocol-error", detail });
    return {
      reply: code === "version"
        ? {
          type: "error",
          code,
          message: detail,
          supported: [...SUPPORTED_VERSIONS],
        }
        : { type: "error", code, message: detail },
      close: true,
    };
  }

  async #login(
    name: string,
    number: string,
    password: string,
  ): Promise<SessionStep> {
    this.#loginAttempts++;
    const attemptsLeft = this.#maxLoginAttempts - this.#loginAttempts;
    const close = attemptsLeft <= 0;
    if (close) this.#state = "closed";
    // One step (one statement on PostgreSQL): the voter and the verdict. A
    // store that cannot answer (a database outage) checks no password, and
    // the throttle counts nothing.
    const { voter: registered, verdict } = await this.#throttle.admit(
      this.#address,
      number,
      this.#store,
    );
    if (!verdict.allowed) {
      this.#onEvent({ kind: "login-locked", number, lock: verdict.lock });
      return {
        reply: {
          type: "login",
          answer: 0,
          retryAfterSeconds: verdict.lock.seconds,
          attemptsLeft,
        },
        close,
      };
    }
    const voter = this.#verifier.verify(registered, name, password);
    if (voter !== undefined) {
      // Not awaited: the reply does not wait for the clear (batched on
      // PostgreSQL); a clear that fails leaves the check counted, stricter.
      this.#throttle.recordSuccess(this.#address, number, verdict.at);
      this.#state = "menu";
      this.#voter = voter;
      this.#onEvent({ kind: "login-ok", voter });
      return { reply: { type: "login", answer: 1, name: voter }, close: false };
    }
    this.#onEvent({ kind: "login-failed", number });
    if (verdict.locksIfWrong) {
      this.#onEvent({ kind: "lockout", number, lock: verdict.locksIfWrong });
    }
    return { reply: { type: "login", answer: 0, attemptsLeft }, close };
  }

  async #pollsState(): Promise<PollsState> {
    return pollsStateAt(
      await this.#store.pollsWindow(),
      new Date(this.#nowMs()),
    );
  }

  async #menu(choice: MenuChoice): Promise<SessionStep> {
    const store = this.#store;
    const voter = this.#voter!;
    switch (choice) {
      case MenuChoice.Vote: {
        if (await store.hasVoted(voter)) {
          return { reply: { type: "vote", answer: 0 }, close: false };
        }
        const polls = await this.#pollsState();
        if (polls !== "open") {
          const reason = `polls-${polls}` as const;
          this.#onEvent({ kind: "vote-refused", voter, reason });
          return { reply: { type: "vote", answer: 0, reason }, close: false };
        }
        this.#state = "ballot";
        return {
          reply: { type: "vote", answer: 1, candidates: [...store.candidates] },
          close: false,
        };
      }
      case MenuChoice.ViewResult: {
        // The polls first: once closed, the store answers after the last
        // vote decided before the closing, and the tally then includes it.
        const polls = await this.#pollsState();
        return {
          reply: resultReply(store.candidates, await store.tally(), polls),
          close: false,
        };
      }
      case MenuChoice.MyHistory: {
        const record = await store.voteOf(voter);
        return {
          reply: record === undefined ? { type: "history", answer: 0 } : {
            type: "history",
            answer: 1,
            entry: historyLine(record.voter, record.time),
          },
          close: false,
        };
      }
      case MenuChoice.Exit:
        this.#state = "closed";
        return { reply: { type: "bye" }, close: true };
    }
  }

  async #ballot(choice: number): Promise<SessionStep> {
    const voter = this.#voter!;
    this.#state = "menu";
    let outcome: BallotOutcome;
    try {
      outcome = await this.#store.recordBallot(voter, choice);
    } catch (error) {
      if (!(error instanceof StorageError)) throw error;
      this.#onEvent({ kind: "vote-refused", voter, reason: error.message });
      return {
        reply: { type: "ballot", answer: 0, reason: "storage" },
        close: false,
      };
    }
    switch (outcome.kind) {
      case "recorded":
        this.#onEvent({ kind: "vote-recorded", voter });
        return { reply: { type: "ballot", answer: 1 }, close: false };
      case "already-voted":
      case "polls-not-open":
      case "polls-closed":
        this.#onEvent({ kind: "vote-refused", voter, reason: outcome.kind });
        return {
          reply: { type: "ballot", answer: 0, reason: outcome.kind },
          close: false,
        };
      case "not-on-ballot":
        return this.protocolError(
          `Ballot choice ${choice} is not on the ballot of ${this.#store.candidates.length}`,
        );
    }
  }
}

/** The rules' result, as the wire carries it. */
function resultReply(
  candidates: readonly string[],
  tally: Tally,
  polls: PollsState,
): ResultReply {
  const result = resultOf(candidates, tally, polls);
  if (!result.available) return { type: "result", answer: 0 };
  const reply = {
    type: "result",
    answer: 1,
    winners: result.winners,
    totals: result.totals,
  } as const;
  return result.turnout === undefined
    ? reply
    : { ...reply, turnout: result.turnout };
}
