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
  MAX_SERVER_FRAME_BYTES,
} from "../wire/framing.ts";
import type { LineInput } from "./line_input.ts";
import {
  decodeServerMessage,
  encodeMessage,
  MenuChoice,
  PROTOCOL_VERSION,
} from "../wire/protocol.ts";
import type {
  BallotRefusal,
  ClientMessage,
  ErrorReply,
  ServerMessage,
} from "../wire/protocol.ts";
import type { Connection } from "../wire/transport.ts";

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

/** The client's end of the wire: sends requests, reads answers. */
export class ServerChannel {
  readonly #connection: Connection;
  readonly #decoder = new FrameDecoder(MAX_SERVER_FRAME_BYTES);
  readonly #received: Uint8Array[] = [];

  /**
   * Wraps a connection.
   *
   * @param connection A connection to the server.
   */
  constructor(connection: Connection) {
    this.#connection = connection;
  }

  /**
   * Sends a request and reads its answer.
   *
   * @param message The request.
   * @returns The server's answer.
   * @throws {SessionEndedError} When the connection ends first or the answer
   * is not a valid message.
   */
  async request(message: ClientMessage): Promise<ServerMessage> {
    try {
      await this.#connection.write(encodeFrame(encodeMessage(message)));
    } catch {
      // The server may have closed after sending why; read it below.
    }
    return await this.receive();
  }

  /**
   * Reads the next message from the server.
   *
   * @returns The message.
   * @throws {SessionEndedError} When the connection ends first or the bytes
   * are not a valid message.
   */
  async receive(): Promise<ServerMessage> {
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
    try {
      return decodeServerMessage(this.#received.shift()!);
    } catch (error) {
      throw new SessionEndedError(
        `The server sent an invalid message: ${(error as Error).message}`,
      );
    }
  }
}

/** How a voter's session ended. */
export type SessionOutcome = "exited" | "end-of-input";

/**
 * Runs one voter's whole session: login, then the menu until Exit or end of
 * input.
 *
 * @param connection A connection to the server (TLS already established).
 * @param input Where the voter's answers come from.
 * @param print Writes one line for the voter.
 * @returns How the session ended.
 * @throws {SessionEndedError} When the server ends the session (after too
 * many failed logins, a timeout, ...) or the connection drops.
 */
export async function runVoterSession(
  connection: Connection,
  input: LineInput,
  print: (line: string) => void,
): Promise<SessionOutcome> {
  const channel = new ServerChannel(connection);
  const voter = await logIn(channel, input, print);
  if (voter === undefined) return "end-of-input";
  print(`Welcome ${voter}!`);
  while (true) {
    MAIN_MENU.forEach((line) => print(line));
    const typed = await input.readLine("");
    if (typed === null) return "end-of-input";
    const choice = Number(typed.trim());
    if (!/^[1-4]$/.test(typed.trim())) {
      print(`Please type 1, 2, 3 or 4 and press Enter (you typed "${typed}")`);
      continue;
    }
    const reply = await channel.request({
      type: "menu",
      choice: choice as MenuChoice,
    });
    switch (reply.type) {
      case "vote":
        if (reply.answer === 0) {
          print(refusalLine(reply.reason ?? "already-voted"));
        } else if (!await castBallot(channel, input, print, reply.candidates)) {
          return "end-of-input";
        }
        break;
      case "result":
        if (reply.answer === 0) {
          print("The result is not available");
        } else {
          if (reply.turnout !== undefined) {
            print(
              `Polls closed: turnout ${reply.turnout.voted}/${reply.turnout.registered}`,
            );
          }
          print(winnerLine(reply.winners));
          reply.totals.forEach((t) => print(`${t.candidate} ${t.votes}`));
        }
        break;
      case "history":
        print(reply.answer === 1 ? reply.entry : "You have not voted yet");
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
): Promise<string | undefined> {
  while (true) {
    const name = await input.readLine("Name:");
    if (name === null) return undefined;
    const number = await input.readLine("Registration number:");
    if (number === null) return undefined;
    const password = await input.readLine("Password:", { secret: true });
    if (password === null) return undefined;
    const reply = await channel.request({
      type: "login",
      version: PROTOCOL_VERSION,
      name: name.trim(),
      number: number.trim(),
      password,
    });
    if (reply.type !== "login") unexpected(reply);
    if (reply.answer === 1) return reply.name;
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

/** Steps 4-5: shows the ballot, reads a valid number, sends it. */
async function castBallot(
  channel: ServerChannel,
  input: LineInput,
  print: (line: string) => void,
  candidates: string[],
): Promise<boolean> {
  while (true) {
    print(ballotHeading(candidates.length));
    candidates.forEach((name, i) => print(`${i + 1}. ${name}`));
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
    `The server sent an unexpected "${reply.type}" message`,
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
    case "version":
      return `The server does not speak protocol version ${PROTOCOL_VERSION} of this client (it speaks ${
        (reply.supported ?? []).join(", ")
      }); please update the client`;
    case "protocol":
      return `The server refused a message of this client: ${reply.message}`;
  }
}
