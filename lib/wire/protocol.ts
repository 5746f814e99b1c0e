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

/** Why the polls refuse every vote: before the opening, or after the closing. */
export type PollsRefusal = "polls-not-open" | "polls-closed";

/**
 * Answer to menu choice 1: 1 with the ballot, or 0 with why not (no reason
 * means `already-voted`, the seed's "sends 0").
 */
export type VoteReply =
  | { type: "vote"; answer: 1; candidates: string[] }
  | { type: "vote"; answer: 0; reason?: "already-voted" | PollsRefusal };

/** Why a ballot was not recorded. */
export type BallotRefusal = "already-voted" | "storage" | PollsRefusal;

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

/** How many of the registered voters voted. */
export interface Turnout {
  /** Votes cast. */
  voted: number;
  /** Registered voters. */
  registered: number;
}

/**
 * Answer to menu choice 2: 0 until everyone has voted or the polls have
 * closed, then the result; `turnout` is there when the polls closed before
 * everyone voted.
 */
export type ResultReply =
  | { type: "result"; answer: 0 }
  | {
    type: "result";
    answer: 1;
    winners: string[];
    totals: CandidateTotal[];
    turnout?: Turnout;
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

/**
 * Every `code` an `error` message may carry, the closed list of version 1.
 * PROTOCOL.md says when each is sent.
 */
export const ERROR_CODES = [
  "protocol",
  "version",
  "login-timeout",
  "idle-timeout",
  "too-many-connections",
  "session-replaced",
  "shutdown",
  "unavailable",
] as const;

/** Why the server ended a session, for programs: one of {@linkcode ERROR_CODES}. */
export type ErrorCode = typeof ERROR_CODES[number];

/** Protocol versions this implementation speaks, sent with a `version` error. */
export const SUPPORTED_VERSIONS: readonly number[] = [PROTOCOL_VERSION];

/** Why the server is ending a session; it closes the connection after it. */
export interface ErrorReply {
  /** Always `error`. */
  type: "error";
  /** Why the session ends, for programs. */
  code: ErrorCode;
  /** Why the session ends, for people. */
  message: string;
  /** With code `version` only: the versions the server speaks. */
  supported?: number[];
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
   * The error code the server answers with: `version` for a login in a
   * version it does not speak, `protocol` for everything else.
   */
  readonly code: "protocol" | "version";

  /**
   * Creates the error.
   *
   * @param message What was wrong with the message.
   * @param code `version` for an unsupported protocol version (default
   * `protocol`).
   */
  constructor(message: string, code: "protocol" | "version" = "protocol") {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
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
 * Decodes and validates a message from a client: the padding, the JSON, the
 * message's type and every field PROTOCOL.md lists for it. Integers are
 * checked as they are written on the wire (`1.0`, `1e0`, `01` and `-0` are
 * not integers), strings as Unicode code points.
 *
 * @example
 * ```ts
 * const message = decodeClientMessage(encodeMessage({ type: "menu", choice: 2 }));
 * // message: { type: "menu", choice: 2 }
 * ```
 *
 * @param payload A frame payload.
 * @returns The message.
 * @throws {ProtocolError} When the payload is not a valid client message;
 * its `code` is `version` for a login in another protocol version.
 */
export function decodeClientMessage(payload: Uint8Array): ClientMessage {
  const value = parsePayload(payload);
  switch (value.type) {
    case "login": {
      const version = requiredInteger(
        value,
        "version",
        [1, Number.MAX_SAFE_INTEGER],
        "Login version must be a positive integer",
      );
      if (!SUPPORTED_VERSIONS.includes(version)) {
        throw new ProtocolError(
          `Unsupported protocol version ${version}`,
          "version",
        );
      }
      return {
        type: "login",
        version,
        name: credential(value, "name"),
        number: credential(value, "number"),
        password: credential(value, "password"),
      };
    }
    case "menu": {
      const choice = requiredInteger(
        value,
        "choice",
        [1, 4],
        "Menu choice must be an integer from 1 to 4",
      );
      return { type: "menu", choice: choice as MenuChoice };
    }
    case "ballot": {
      const choice = requiredInteger(
        value,
        "choice",
        [1, Number.MAX_SAFE_INTEGER],
        "Ballot choice must be a positive integer",
      );
      return { type: "ballot", choice };
    }
    default:
      throw new ProtocolError(
        `Unknown client message type ${quote(value.type)}`,
      );
  }
}

/**
 * Decodes and validates a message from the server, as strictly as the
 * server decodes a client's.
 *
 * @example
 * ```ts
 * const reply = decodeServerMessage(encodeMessage({ type: "bye" }));
 * // reply: { type: "bye" }
 * ```
 *
 * @param payload A frame payload.
 * @returns The message.
 * @throws {ProtocolError} When the payload is not a valid server message.
 */
export function decodeServerMessage(payload: Uint8Array): ServerMessage {
  const value = parsePayload(payload);
  const answer = integer(value, "answer", 0, 1);
  switch (value.type) {
    case "login": {
      if (answer === 1 && typeof value.name === "string") {
        return { type: "login", answer: 1, name: value.name };
      }
      const attemptsLeft = integer(value, "attemptsLeft", 0, MAX_SAFE);
      if (answer !== 0 || attemptsLeft === undefined) break;
      if (value.retryAfterSeconds === undefined) {
        return { type: "login", answer: 0, attemptsLeft };
      }
      const retry = integer(value, "retryAfterSeconds", 1, MAX_SAFE);
      if (retry === undefined) break;
      return {
        type: "login",
        answer: 0,
        attemptsLeft,
        retryAfterSeconds: retry,
      };
    }
    case "vote":
      if (answer === 0 && value.reason === undefined) {
        return { type: "vote", answer: 0 };
      }
      if (answer === 0) {
        const reason = VOTE_REFUSALS.find((known) => known === value.reason);
        if (reason !== undefined) return { type: "vote", answer: 0, reason };
      }
      if (
        answer === 1 && isStringArray(value.candidates) &&
        value.candidates.length > 0
      ) {
        return { type: "vote", answer: 1, candidates: value.candidates };
      }
      break;
    case "ballot":
      if (answer === 1) return { type: "ballot", answer: 1 };
      if (answer === 0) {
        const reason = BALLOT_REFUSALS.find((known) => known === value.reason);
        if (reason !== undefined) return { type: "ballot", answer: 0, reason };
      }
      break;
    case "result": {
      if (answer === 0) return { type: "result", answer: 0 };
      const totals = candidateTotals(value.totals);
      if (answer !== 1 || !isStringArray(value.winners) || !totals) break;
      if (!winnersAreTheTop(value.winners, totals)) break;
      const result = {
        type: "result",
        answer: 1,
        winners: value.winners,
        totals,
      } as const;
      if (value.turnout === undefined) return result;
      const turnout = turnoutOf(value.turnout);
      // Sent only when the polls closed before everyone voted: fewer voted
      // than are registered, and the totals count exactly those votes.
      const counted = totals.reduce((sum, total) => sum + total.votes, 0);
      if (
        turnout && turnout.voted < turnout.registered &&
        turnout.voted === counted
      ) return { ...result, turnout };
      break;
    }
    case "history":
      if (answer === 0) return { type: "history", answer: 0 };
      if (answer === 1 && typeof value.entry === "string") {
        return { type: "history", answer: 1, entry: value.entry };
      }
      break;
    case "bye":
      return { type: "bye" };
    case "error": {
      const code = ERROR_CODES.find((known) => known === value.code);
      if (code === undefined || typeof value.message !== "string") break;
      if (code !== "version") {
        return { type: "error", code, message: value.message };
      }
      const supported = value.supported;
      if (!Array.isArray(supported)) break;
      const versions = supported.map((_, i) =>
        integer(
          supported as unknown as Record<string, unknown>,
          String(i),
          1,
          MAX_SAFE,
        )
      );
      if (versions.some((version) => version === undefined)) break;
      return {
        type: "error",
        code,
        message: value.message,
        supported: versions as number[],
      };
    }
  }
  throw new ProtocolError(
    `Malformed server message of type ${quote(value.type)}`,
  );
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Every `reason` a `ballot` answer 0 may carry. */
const BALLOT_REFUSALS: readonly BallotRefusal[] = [
  "already-voted",
  "storage",
  "polls-not-open",
  "polls-closed",
];

/** Every `reason` a `vote` answer 0 may carry. */
const VOTE_REFUSALS = [
  "already-voted",
  "polls-not-open",
  "polls-closed",
] as const;

/**
 * How every number in the last parsed payload was written, per object it
 * belongs to: JSON.parse turns `1.0` and `1` into the same value, so integer
 * fields are checked against their source text.
 */
const numberTokens = new WeakMap<object, Map<string, string>>();

/**
 * The payload's rules before any message's: a multiple of
 * {@linkcode PAD_BLOCK_BYTES} bytes, one JSON object starting at the first
 * byte, then at least one space (0x20) and nothing but spaces.
 */
function parsePayload(payload: Uint8Array): Record<string, unknown> {
  if (payload.length === 0 || payload.length % PAD_BLOCK_BYTES !== 0) {
    throw new ProtocolError(
      `Payload of ${payload.length} bytes is not padded to a multiple of ${PAD_BLOCK_BYTES}`,
    );
  }
  let end = payload.length;
  while (end > 0 && payload[end - 1] === SPACE) end--;
  if (end === payload.length) {
    throw new ProtocolError("Payload does not end with space padding");
  }
  if (payload[0] !== OPEN_BRACE || payload[end - 1] !== CLOSE_BRACE) {
    throw new ProtocolError(
      "Payload is not one JSON object followed by space padding",
    );
  }
  let text: string;
  try {
    text = decoder.decode(payload.subarray(0, end));
  } catch {
    throw new ProtocolError("Payload is not UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text, recordNumberTokens as JsonReviver);
  } catch {
    throw new ProtocolError("Payload is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("Payload is not a JSON object");
  }
  return value as Record<string, unknown>;
}

/** JSON.parse's reviver as TypeScript's library declares it. */
type JsonReviver = (this: unknown, key: string, value: unknown) => unknown;

/**
 * A reviver that keeps each number's source text (the third argument of a
 * reviver, JSON.parse source text access) and changes nothing.
 */
function recordNumberTokens(
  this: object,
  key: string,
  value: unknown,
  context: { source?: string },
): unknown {
  if (typeof value === "number" && context.source !== undefined) {
    let tokens = numberTokens.get(this);
    if (tokens === undefined) numberTokens.set(this, tokens = new Map());
    tokens.set(key, context.source);
  }
  return value;
}

const SPACE = 0x20;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const INTEGER_TOKEN = /^(0|[1-9][0-9]*)$/;

/**
 * A field that must be an integer from `min` to `max`, written as one: no
 * fraction, exponent, sign or leading zero.
 */
function integer(
  holder: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
): number | undefined {
  const value = holder[field];
  if (typeof value !== "number") return undefined;
  const source = numberTokens.get(holder)?.get(field);
  if (source === undefined || !INTEGER_TOKEN.test(source)) return undefined;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    return undefined;
  }
  return value;
}

/**
 * An integer field a client message cannot do without: the value, or a
 * protocol error that states `rule` and quotes what the peer wrote.
 */
function requiredInteger(
  holder: Record<string, unknown>,
  field: string,
  [min, max]: [number, number],
  rule: string,
): number {
  const value = integer(holder, field, min, max);
  if (value === undefined) {
    throw new ProtocolError(`${rule}, got ${token(holder, field)}`);
  }
  return value;
}

/** A field's value as the peer wrote it, for an error message. */
function token(holder: Record<string, unknown>, field: string): string {
  const source = numberTokens.get(holder)?.get(field);
  return source === undefined ? quote(holder[field]) : quote(source, false);
}

function credential(value: Record<string, unknown>, field: string): string {
  const text = value[field];
  if (
    typeof text !== "string" || !text.isWellFormed() ||
    codePoints(text) > MAX_CREDENTIAL_CHARS
  ) {
    throw new ProtocolError(
      `Login field "${field}" must be a string of at most ${MAX_CREDENTIAL_CHARS} Unicode code points`,
    );
  }
  return text;
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * A value from the wire, for an error message: JSON-escaped (no control
 * characters reach a log) and at most 40 characters, so a hostile peer
 * cannot fill the log with its own text. A number's source token is shown
 * as written.
 */
function quote(value: unknown, asJson = true): string {
  const text = asJson ? JSON.stringify(value) ?? String(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) &&
    value.every((item) => typeof item === "string");
}

function turnoutOf(value: unknown): Turnout | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const holder = value as Record<string, unknown>;
  const voted = integer(holder, "voted", 0, MAX_SAFE);
  const registered = integer(holder, "registered", 0, MAX_SAFE);
  if (voted === undefined || registered === undefined) return undefined;
  return voted <= registered ? { voted, registered } : undefined;
}

/**
 * Whether `winners` are exactly the candidates with the most votes, in
 * ballot order (all of them on a tie), as PROTOCOL.md §9.4 has it.
 */
function winnersAreTheTop(
  winners: string[],
  totals: CandidateTotal[],
): boolean {
  const top = Math.max(...totals.map((total) => total.votes));
  const expected = totals.filter((total) => total.votes === top);
  return winners.length === expected.length &&
    expected.every((total, i) => total.candidate === winners[i]);
}

/** One total per candidate, at least one, no candidate twice. */
function candidateTotals(value: unknown): CandidateTotal[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const totals: CandidateTotal[] = [];
  for (const item of value) {
    if (typeof item !== "object" || item === null) return undefined;
    const votes = integer(item, "votes", 0, MAX_SAFE);
    if (typeof item.candidate !== "string" || votes === undefined) {
      return undefined;
    }
    totals.push({ candidate: item.candidate, votes });
  }
  const names = new Set(totals.map((total) => total.candidate));
  return names.size === totals.length ? totals : undefined;
}
