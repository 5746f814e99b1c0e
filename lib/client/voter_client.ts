/**
 * The voter's side of the booth: asks for credentials, shows the main menu
 * and the ballot, and prints each answer in the seed's words. It runs over
 * any {@linkcode Connection} and any {@linkcode LineInput}, so tests drive it
 * without a terminal or a socket.
 *
 * @module
 */

import {
  encodeFrame,
  FrameDecoder,
  MAX_CLIENT_FRAME_BYTES,
  MAX_SERVER_FRAME_BYTES,
} from "../wire/framing.ts";
import type { LineInput } from "./line_input.ts";
import {
  decodeServerMessage,
  encodeMessage,
  MAX_CREDENTIAL_CHARS,
  MenuChoice,
  PROTOCOL_VERSION,
} from "../wire/protocol.ts";
import type {
  BallotRefusal,
  ClientMessage,
  ErrorReply,
  ServerMessage,
} from "../wire/protocol.ts";
import type { Connection } from "../wire/connection.ts";
import { escapeForTerminal } from "../terminal/escape.ts";

/** The main menu, as printed after login and after every action. */
export const MAIN_MENU = [
  "Please enter a number (1-4)",
  "1. Vote",
  "2. View election result",
  "3. My vote history",
  "4. Exit",
];

/**
 * The ballot's first line.
 *
 * @param count Candidates on the ballot.
 * @returns `Candidates: (enter 1 or 2)` for two, `Candidates: (enter 1-M)`
 * otherwise.
 */
export function ballotHeading(count: number): string {
  return count === 2
    ? "Candidates: (enter 1 or 2)"
    : `Candidates: (enter 1-${count})`;
}

/**
 * The result's first line.
 *
 * @param winners The candidates with the most votes, in ballot order.
 * @returns `<winner> Win`, or `Tie between A and B` / `Tie between A, B and C`.
 */
export function winnerLine(winners: readonly string[]): string {
  if (winners.length === 1) return `${winners[0]} Win`;
  const last = winners[winners.length - 1];
  return `Tie between ${winners.slice(0, -1).join(", ")} and ${last}`;
}

/** Thrown when the server ends the session or the connection drops. */
export class SessionEndedError extends Error {
  /**
   * Creates the error.
   *
   * @param message What happened, as shown to the voter.
   */
  constructor(message: string) {
    super(message);
    this.name = "SessionEndedError";
  }
}

/**
 * Starts a timer that calls `onExpiry` after `ms` milliseconds, and returns
 * the function that cancels it. Tests pass a fake one.
 */
export type StartTimer = (ms: number, onExpiry: () => void) => () => void;

/**
 * The real clock's {@linkcode StartTimer}.
 *
 * @param ms Milliseconds until `onExpiry` runs.
 * @param onExpiry What to do when the time is up.
 * @returns A function that cancels the timer.
 */
export function realTimer(ms: number, onExpiry: () => void): () => void {
  const id = setTimeout(onExpiry, ms);
  return () => clearTimeout(id);
}

/** The default time limit for each answer from the server. */
export const DEFAULT_ANSWER_TIMEOUT_MS = 30_000;

/** Options of {@linkcode ServerChannel} and {@linkcode runVoterSession}. */
export interface ChannelOptions {
  /**
   * How long the server has to answer each request (default
   * {@linkcode DEFAULT_ANSWER_TIMEOUT_MS}).
   */
  answerTimeoutMs?: number;
  /** The clock the time limit runs on (default {@linkcode realTimer}). */
  startTimer?: StartTimer;
}

/**
 * The client's end of the wire: sends requests, reads answers. A server that
 * answers something other than what was asked, sends a message nobody asked
 * for, or does not answer in time ends the session.
 */
export class ServerChannel {
  readonly #connection: Connection;
  readonly #decoder = new FrameDecoder(MAX_SERVER_FRAME_BYTES);
  readonly #received: Uint8Array[] = [];
  readonly #timeoutMs: number;
  readonly #startTimer: StartTimer;

  /**
   * Wraps a connection.
   *
   * @param connection A connection to the server.
   * @param options The time limit for each answer and its clock.
   */
  constructor(connection: Connection, options: ChannelOptions = {}) {
    this.#connection = connection;
    this.#timeoutMs = options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
    this.#startTimer = options.startTimer ?? realTimer;
  }

  /**
   * Sends a request and reads its answer.
   *
   * @param message The request.
   * @returns The server's answer: one that answers this request, or an
   * `error` message ending the session.
   * @throws {SessionEndedError} When the connection ends first, the answer
   * is late, invalid or answers another request, or the server had sent a
   * message nobody asked for.
   */
  async request(message: ClientMessage): Promise<ServerMessage> {
    if (this.#received.length > 0) {
      const unasked = this.#decode(this.#received.shift()!);
      if (unasked.type === "error") return unasked;
      throw new SessionEndedError(
        `The server sent an invalid message: a "${
          wireText(unasked.type)
        }" message nobody asked for`,
      );
    }
    try {
      await this.#connection.write(encodeFrame(encodeMessage(message)));
    } catch {
      // The server may have closed after sending why; read it below.
    }
    const reply = await this.receive();
    const problem = answerProblem(message, reply);
    if (problem !== undefined) {
      throw new SessionEndedError(
        `The server sent an invalid message: ${problem}`,
      );
    }
    return reply;
  }

  /**
   * Reads the next message from the server, within the time limit.
   *
   * @returns The message.
   * @throws {SessionEndedError} When the connection ends first, the time
   * limit passes, or the bytes are not a valid message.
   */
  async receive(): Promise<ServerMessage> {
    if (this.#received.length === 0) {
      let cancel = () => {};
      const late = new Promise<never>((_, reject) => {
        cancel = this.#startTimer(this.#timeoutMs, () =>
          reject(
            new SessionEndedError(
              `The server did not answer within ${
                this.#timeoutMs / 1000
              } seconds (--timeout sets the limit)`,
            ),
          ));
      });
      try {
        await Promise.race([this.#fill(), late]);
      } finally {
        cancel();
      }
    }
    return this.#decode(this.#received.shift()!);
  }

  async #fill(): Promise<void> {
    while (this.#received.length === 0) {
      const chunk = await this.#connection.read();
      if (chunk === null) {
        throw new SessionEndedError(
          "The server closed the connection; please log in again",
        );
      }
      try {
        this.#received.push(...this.#decoder.push(chunk));
      } catch (error) {
        throw new SessionEndedError(
          `The server sent an invalid message: ${(error as Error).message}`,
        );
      }
    }
  }

  #decode(frame: Uint8Array): ServerMessage {
    try {
      return decodeServerMessage(frame);
    } catch (error) {
      throw new SessionEndedError(
        `The server sent an invalid message: ${(error as Error).message}`,
      );
    }
  }
}

/** The reply type that answers each main-menu choice. */
const MENU_ANSWERS: Record<MenuChoice, ServerMessage["type"]> = {
  [MenuChoice.Vote]: "vote",
  [MenuChoice.ViewResult]: "result",
  [MenuChoice.MyHistory]: "history",
  [MenuChoice.Exit]: "bye",
};

/**
 * What is wrong with a reply to a request, or undefined when it answers it.
 * An `error` message answers anything: the server is ending the session.
 */
function answerProblem(
  request: ClientMessage,
  reply: ServerMessage,
): string | undefined {
  if (reply.type === "error") return undefined;
  const expected = request.type === "menu"
    ? MENU_ANSWERS[request.choice]
    : request.type;
  if (reply.type !== expected) {
    const asked = request.type === "menu"
      ? `menu choice ${request.choice}`
      : `a "${request.type}" request`;
    return `a "${reply.type}" answer to ${asked}`;
  }
  // A ballot of no candidates never gets here: decodeServerMessage refuses it.
  return undefined;
}

/** A value from the wire, kept on one line: unsafe characters and newlines escaped. */
function wireText(text: string): string {
  return escapeForTerminal(text, { newlines: false });
}

/** How a voter's session ended. */
export type SessionOutcome = "exited" | "end-of-input";

/** Options of {@linkcode runVoterSession}. */
export interface VoterSessionOptions extends ChannelOptions {
  /**
   * Opens a new connection to the same server. The client connects before
   * it asks for the credentials (the seed's order), so the server's login
   * grace runs while the voter types: when the server has closed the
   * connection for that (`login-timeout`) by the time the credentials are
   * sent, they are sent once more on a connection from here, which the
   * session closes. Without it, the session ends with the server's reason.
   */
  reconnect?: () => Promise<Connection>;
}

/**
 * Runs one voter's whole session: login, then the menu until Exit or end of
 * input.
 *
 * Everything printed is escaped for the terminal, and every value from the
 * wire stays on its line, so a hostile server cannot move the cursor, clear
 * the screen, reorder text or add lines of its own.
 *
 * @param connection A connection to the server (TLS already established).
 * @param input Where the voter's answers come from.
 * @param print Writes one line for the voter.
 * @param options The time limit for each answer and its clock, and how to
 * connect again when the login grace ran out while the voter typed.
 * @returns How the session ended.
 * @throws {SessionEndedError} When the server ends the session (after too
 * many failed logins, a timeout, ...) or the connection drops.
 */
export async function runVoterSession(
  connection: Connection,
  input: LineInput,
  print: (line: string) => void,
  options: VoterSessionOptions = {},
): Promise<SessionOutcome> {
  const reconnected: Connection[] = [];
  try {
    return await runSession(connection, input, print, options, reconnected);
  } finally {
    for (const opened of reconnected) opened.close();
  }
}

async function runSession(
  connection: Connection,
  input: LineInput,
  print: (line: string) => void,
  options: VoterSessionOptions,
  reconnected: Connection[],
): Promise<SessionOutcome> {
  const show = (line: string) => print(escapeForTerminal(line));
  const reconnect = options.reconnect === undefined ? undefined : async () => {
    const fresh = await options.reconnect!();
    reconnected.push(fresh);
    return new ServerChannel(fresh, options);
  };
  const login = await logIn(
    new ServerChannel(connection, options),
    input,
    show,
    reconnect,
  );
  if (login === undefined) return "end-of-input";
  const { voter, channel } = login;
  show(`Welcome ${wireText(voter)}!`);
  while (true) {
    MAIN_MENU.forEach((line) => show(line));
    const typed = await input.readLine("");
    if (typed === null) return "end-of-input";
    const choice = Number(typed.trim());
    if (!/^[1-4]$/.test(typed.trim())) {
      show(`Please type 1, 2, 3 or 4 and press Enter (you typed "${typed}")`);
      continue;
    }
    const reply = await channel.request({
      type: "menu",
      choice: choice as MenuChoice,
    });
    switch (reply.type) {
      case "vote":
        if (reply.answer === 0) {
          show(refusalLine(reply.reason ?? "already-voted"));
        } else if (!await castBallot(channel, input, show, reply.candidates)) {
          return "end-of-input";
        }
        break;
      case "result":
        if (reply.answer === 0) {
          show("The result is not available");
        } else {
          if (reply.turnout !== undefined) {
            show(
              `Polls closed: turnout ${reply.turnout.voted}/${reply.turnout.registered}`,
            );
          }
          show(winnerLine(reply.winners.map(wireText)));
          reply.totals.forEach((t) =>
            show(`${wireText(t.candidate)} ${t.votes}`)
          );
        }
        break;
      case "history":
        show(
          reply.answer === 1 ? wireText(reply.entry) : "You have not voted yet",
        );
        break;
      case "bye":
        return "exited";
      default:
        unexpected(reply);
    }
  }
}

async function logIn(
  channel: ServerChannel,
  input: LineInput,
  print: (line: string) => void,
  reconnect: (() => Promise<ServerChannel>) | undefined,
): Promise<{ voter: string; channel: ServerChannel } | undefined> {
  while (true) {
    const name = await input.readLine("Name:");
    if (name === null) return undefined;
    const number = await input.readLine("Registration number:");
    if (number === null) return undefined;
    const password = await input.readLine("Password:", { secret: true });
    if (password === null) return undefined;
    const login = {
      type: "login",
      version: PROTOCOL_VERSION,
      // Rolls are in NFC; a keyboard or a paste may give NFD.
      name: name.trim().normalize("NFC"),
      number: number.trim(),
      password,
    } as const;
    // The server ends a session whose login breaks the protocol's limits:
    // the voter is asked again instead.
    if (!loginFits(login)) {
      print(
        `Too long: a name, registration number or password has at most ${MAX_CREDENTIAL_CHARS} characters`,
      );
      continue;
    }
    let reply = await channel.request(login);
    if (
      reply.type === "error" && reply.code === "login-timeout" &&
      reconnect !== undefined
    ) {
      // The grace ran out while the voter typed: the same credentials, once,
      // on a fresh connection.
      channel = await reconnect();
      reply = await channel.request(login);
    }
    if (reply.type !== "login") unexpected(reply);
    if (reply.answer === 1) return { voter: reply.name, channel };
    print(
      reply.retryAfterSeconds === undefined
        ? "Invalid name, registration number, or password"
        : `Too many failed attempts; try again in ${reply.retryAfterSeconds} seconds`,
    );
    if (reply.attemptsLeft === 0) {
      throw new SessionEndedError(
        "Too many failed logins on this connection; the server closed it",
      );
    }
  }
}

/**
 * Whether a login is within the protocol's limits: each field at most
 * {@linkcode MAX_CREDENTIAL_CHARS} code points, the whole message within a
 * client frame.
 */
function loginFits(login: ClientMessage & { type: "login" }): boolean {
  const fields = [login.name, login.number, login.password];
  return fields.every((field) => [...field].length <= MAX_CREDENTIAL_CHARS) &&
    encodeMessage(login).length <= MAX_CLIENT_FRAME_BYTES;
}

/** Steps 4-5: shows the ballot, reads a valid number, sends it. */
async function castBallot(
  channel: ServerChannel,
  input: LineInput,
  print: (line: string) => void,
  candidates: string[],
): Promise<boolean> {
  while (true) {
    print(ballotHeading(candidates.length));
    candidates.forEach((name, i) => print(`${i + 1}. ${wireText(name)}`));
    const typed = await input.readLine("");
    if (typed === null) return false;
    const choice = Number(typed.trim());
    if (
      /^\d+$/.test(typed.trim()) && choice >= 1 && choice <= candidates.length
    ) {
      const reply = await channel.request({ type: "ballot", choice });
      if (reply.type !== "ballot") unexpected(reply);
      print(
        reply.answer === 1
          ? "Your vote has been recorded."
          : refusalLine(reply.reason),
      );
      return true;
    }
    print(
      `Please type a number from 1 to ${candidates.length} and press Enter (you typed "${typed}")`,
    );
  }
}

/**
 * What the voter reads when a vote or a ballot is refused.
 *
 * @param reason The server's reason.
 * @returns The line, in the seed's words where the seed has them.
 */
export function refusalLine(reason: BallotRefusal): string {
  switch (reason) {
    case "already-voted":
      return "you have already voted";
    case "polls-not-open":
      return "The polls are not open yet";
    case "polls-closed":
      return "The polls are closed";
    case "storage":
      return "Your vote could not be recorded; please try again later";
  }
}

function unexpected(reply: ServerMessage): never {
  if (reply.type === "error") {
    throw new SessionEndedError(errorLine(reply));
  }
  throw new SessionEndedError(
    `The server sent an unexpected "${wireText(reply.type)}" message`,
  );
}

/**
 * What the voter reads when the server ends the session: one line per error
 * code, so the client never parses the server's English.
 *
 * @param reply The server's error message.
 * @returns One line for the voter.
 */
export function errorLine(reply: ErrorReply): string {
  switch (reply.code) {
    case "login-timeout":
      return "The server closed the connection because no login arrived in time; please start again";
    case "idle-timeout":
      return "The server closed the session after a period of inactivity; please log in again";
    case "too-many-connections":
      return "The server is busy; please try again in a few minutes";
    case "session-replaced":
      return "This session was closed because you logged in again elsewhere";
    case "shutdown":
      return "The server is shutting down; please try again later";
    case "unavailable":
      return "The election is unavailable for now; please try again later";
    case "version":
      return `The server does not speak protocol version ${PROTOCOL_VERSION} of this client (it speaks ${
        (reply.supported ?? []).join(", ")
      }); please update the client`;
    case "protocol":
      return `The server refused a message of this client: ${
        wireText(reply.message)
      }`;
  }
}
