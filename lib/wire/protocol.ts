/**
 * The booth's messages: what a client may ask, what the server answers, and
 * how each is encoded into a frame payload (UTF-8 JSON padded with spaces).
 * Following the seed, the server answers `answer: 1` or `answer: 0` wherever
 * the seed says it "sends 1" or "sends 0". PROTOCOL.md is the same in words.
 *
 * @module
 */

/** Protocol version both sides state in their first message. */
export const PROTOCOL_VERSION = 1;

/**
 * Every payload is padded with spaces to a multiple of this many bytes, so
 * that messages which differ only in a short field (the candidate number in a
 * ballot) have the same size on the wire: TLS hides content, not length.
 */
export const PAD_BLOCK_BYTES = 64;

/** Longest name, registration number or password a login may carry. */
export const MAX_CREDENTIAL_CHARS = 256;

/** Main-menu choices, numbered as the voter types them. */
export const MenuChoice = {
  Vote: 1,
  ViewResult: 2,
  MyHistory: 3,
  Exit: 4,
} as const;

/** A main-menu choice number. */
export type MenuChoice = typeof MenuChoice[keyof typeof MenuChoice];

/** Step 2: the voter's credentials. */
export interface LoginRequest {
  /** Always `login`. */
  type: "login";
  /** The protocol version the client speaks: {@linkcode PROTOCOL_VERSION}. */
  version: number;
  /** The voter's name as typed. */
  name: string;
  /** The voter registration number as typed. */
  number: string;
  /** The password as typed. */
  password: string;
}

/** Steps 4, 6, 7, 8: the main-menu number the voter typed. */
export interface MenuRequest {
  /** Always `menu`. */
  type: "menu";
  /** The main-menu number the voter typed. */
  choice: MenuChoice;
}

/** Step 5: the candidate number (1-based, in ballot order) the voter typed. */
export interface BallotRequest {
  /** Always `ballot`. */
  type: "ballot";
  /** The candidate's 1-based position on the ballot. */
  choice: number;
}

/** Any message a client sends. */
export type ClientMessage = LoginRequest | MenuRequest | BallotRequest;

/**
 * Answer to a login: 1 with the voter's name, or 0 with the logins this
 * connection has left (the server closes it at 0) and, while the
 * registration number is locked out, the seconds until it may try again.
 */
export type LoginReply =
  | { type: "login"; answer: 1; name: string }
  | {
    type: "login";
    answer: 0;
    attemptsLeft: number;
    retryAfterSeconds?: number;
  };

/** Answer to menu choice 1: 1 with the ballot, or 0 (already voted). */
export type VoteReply =
  | { type: "vote"; answer: 1; candidates: string[] }
  | { type: "vote"; answer: 0 };

/** Why a ballot was not recorded. */
export type BallotRefusal = "already-voted" | "storage";

/** Answer to a ballot: 1 once the vote is durable, or 0 with the reason. */
export type BallotReply =
  | { type: "ballot"; answer: 1 }
  | { type: "ballot"; answer: 0; reason: BallotRefusal };

/** One candidate's total in a result. */
export interface CandidateTotal {
  /** The candidate's name. */
  candidate: string;
  /** Votes the candidate received. */
  votes: number;
}

/** Answer to menu choice 2: 0 until everyone has voted, then the result. */
export type ResultReply =
  | { type: "result"; answer: 0 }
  | {
    type: "result";
    answer: 1;
    winners: string[];
    totals: CandidateTotal[];
  };

/** Answer to menu choice 3: 1 with the voter's own history line, or 0. */
export type HistoryReply =
  | { type: "history"; answer: 1; entry: string }
  | { type: "history"; answer: 0 };

/** Answer to menu choice 4; the server closes the connection after it. */
export interface ByeReply {
  /** Always `bye`. */
  type: "bye";
}

/** Why the server is ending a session; it closes the connection after it. */
export interface ErrorReply {
  /** Always `error`. */
  type: "error";
  /** Why the session ends, for the voter. */
  message: string;
}

/** Any message the server sends. */
export type ServerMessage =
  | LoginReply
  | VoteReply
  | BallotReply
  | ResultReply
  | HistoryReply
  | ByeReply
  | ErrorReply;

/** Thrown when a payload is not a valid message. */
export class ProtocolError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was wrong with the message.
   */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes a message as a padded JSON payload.
 *
 * @example
 * ```ts
 * const payload = encodeMessage({ type: "ballot", choice: 2 });
 * // payload.length === PAD_BLOCK_BYTES
 * ```
 *
 * @param message The message.
 * @returns The payload, a multiple of {@linkcode PAD_BLOCK_BYTES} long.
 */
export function encodeMessage(
  message: ClientMessage | ServerMessage,
): Uint8Array {
  const json = encoder.encode(JSON.stringify(message));
  const padded = Math.ceil((json.length + 1) / PAD_BLOCK_BYTES) *
    PAD_BLOCK_BYTES;
  const payload = new Uint8Array(padded).fill(0x20);
  payload.set(json);
  return payload;
}

/**
 * Decodes and validates a message from a client.
 *
 * @param payload A frame payload.
 * @returns The message.
 * @throws {ProtocolError} When the payload is not a valid client message.
 */
export function decodeClientMessage(payload: Uint8Array): ClientMessage {
  const value = parseObject(payload);
  switch (value.type) {
    case "login": {
      if (value.version !== PROTOCOL_VERSION) {
        throw new ProtocolError(
          `Unsupported protocol version ${quote(value.version)}`,
        );
      }
      return {
        type: "login",
        version: PROTOCOL_VERSION,
        name: credential(value, "name"),
        number: credential(value, "number"),
        password: credential(value, "password"),
      };
    }
    case "menu": {
      const choice = value.choice;
      if (!isCount(choice) || choice < 1 || choice > 4) {
        throw new ProtocolError(
          `Menu choice must be 1 to 4, got ${quote(choice)}`,
        );
      }
      return { type: "menu", choice: choice as MenuChoice };
    }
    case "ballot": {
      const choice = value.choice;
      if (!isCount(choice) || choice < 1) {
        throw new ProtocolError(
          `Ballot choice must be a positive integer, got ${quote(choice)}`,
        );
      }
      return { type: "ballot", choice };
    }
    default:
      throw new ProtocolError(
        `Unknown client message type ${quote(value.type)}`,
      );
  }
}

/**
 * Decodes and validates a message from the server.
 *
 * @param payload A frame payload.
 * @returns The message.
 * @throws {ProtocolError} When the payload is not a valid server message.
 */
export function decodeServerMessage(payload: Uint8Array): ServerMessage {
  const value = parseObject(payload);
  const answer = value.answer;
  const answered = answer === 0 || answer === 1;
  switch (value.type) {
    case "login":
      if (answer === 1 && typeof value.name === "string") {
        return { type: "login", answer: 1, name: value.name };
      }
      if (answer === 0 && isCount(value.attemptsLeft)) {
        const retry = value.retryAfterSeconds;
        if (retry === undefined) {
          return { type: "login", answer: 0, attemptsLeft: value.attemptsLeft };
        }
        if (isCount(retry) && retry > 0) {
          return {
            type: "login",
            answer: 0,
            attemptsLeft: value.attemptsLeft,
            retryAfterSeconds: retry,
          };
        }
      }
      break;
    case "vote":
      if (answer === 0) return { type: "vote", answer: 0 };
      if (answer === 1 && isStringArray(value.candidates)) {
        return { type: "vote", answer: 1, candidates: value.candidates };
      }
      break;
    case "ballot":
      if (answer === 1) return { type: "ballot", answer: 1 };
      if (
        answer === 0 &&
        (value.reason === "already-voted" || value.reason === "storage")
      ) {
        return { type: "ballot", answer: 0, reason: value.reason };
      }
      break;
    case "result":
      if (answer === 0) return { type: "result", answer: 0 };
      if (
        answer === 1 && isStringArray(value.winners) &&
        isTotals(value.totals)
      ) {
        return {
          type: "result",
          answer: 1,
          winners: value.winners,
          totals: value.totals,
        };
      }
      break;
    case "history":
      if (answer === 0) return { type: "history", answer: 0 };
      if (answer === 1 && typeof value.entry === "string") {
        return { type: "history", answer: 1, entry: value.entry };
      }
      break;
    case "bye":
      return { type: "bye" };
    case "error":
      if (typeof value.message === "string") {
        return { type: "error", message: value.message };
      }
      break;
  }
  throw new ProtocolError(
    `Malformed server message of type ${quote(value.type)}${
      answered ? "" : " (no answer 0 or 1)"
    }`,
  );
}

function parseObject(payload: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    throw new ProtocolError("Message is not UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("Message is not a JSON object");
  }
  return value as Record<string, unknown>;
}

function credential(value: Record<string, unknown>, field: string): string {
  const text = value[field];
  if (typeof text !== "string" || text.length > MAX_CREDENTIAL_CHARS) {
    throw new ProtocolError(
      `Login field "${field}" must be a string of at most ${MAX_CREDENTIAL_CHARS} characters`,
    );
  }
  return text;
}

/**
 * A value from the wire, for an error message: JSON-escaped (no control
 * characters reach a log) and at most 40 characters, so a hostile peer
 * cannot fill the log with its own text.
 */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) &&
    value.every((item) => typeof item === "string");
}

function isTotals(value: unknown): value is CandidateTotal[] {
  return Array.isArray(value) &&
    value.every((item) =>
      typeof item === "object" && item !== null &&
      typeof item.candidate === "string" && isCount(item.votes)
    );
}
