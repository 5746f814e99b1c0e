/**
 * What the tests of a served connection share: a one-voter election on a
 * real file store, Alice's login, and the client end's framing both ways.
 *
 * @module
 */

import { join } from "node:path";
import { PasswordVerifier } from "../lib/election/booth.ts";
import { createElection } from "../lib/store/create_election.ts";
import { readElectionKey } from "../lib/store/election_state.ts";
import { FileBoothStore } from "../lib/store/file_store.ts";
import type { Connection } from "../lib/wire/connection.ts";
import { encodeFrame, FrameDecoder } from "../lib/wire/framing.ts";
import {
  decodeServerMessage,
  encodeMessage,
  PROTOCOL_VERSION,
} from "../lib/wire/protocol.ts";
import type { ClientMessage, ServerMessage } from "../lib/wire/protocol.ts";
import { tempDir } from "./temp_dir.ts";

/** Alice's login message, with the seed's number and password. */
export const ALICE_LOGIN = {
  type: "login",
  version: PROTOCOL_VERSION,
  name: "Alice",
  number: "1123456",
  password: "1234",
} as const;

/**
 * The result once the polls of the seed's election (three voters) have
 * closed on a single vote, for Chris: what the voter is sent.
 */
export const CLOSED_ON_ONE_VOTE_FOR_CHRIS: ServerMessage = {
  type: "result",
  answer: 1,
  winners: ["Chris"],
  totals: [{ candidate: "Chris", votes: 1 }, { candidate: "Linda", votes: 0 }],
  turnout: { voted: 1, registered: 3 },
};

/**
 * Client payloads the protocol refuses: not JSON, not one object, a field
 * missing, of the wrong type or out of range, a number not written as an
 * integer. The decoder's tests check that each is a protocol error; the
 * fuzzers start from them.
 */
export const REFUSED_CLIENT_JSON: readonly string[] = [
  "",
  "not json",
  "[]",
  "null",
  '"login"',
  "{}",
  '{"type":"login","version":1,"name":"A","number":"1"}',
  '{"type":"login","version":2,"name":"A","number":"1","password":"x"}',
  `{"type":"login","version":1,"name":"${
    "A".repeat(257)
  }","number":"1","password":"x"}`,
  '{"type":"login","version":1,"name":5,"number":"1","password":"x"}',
  '{"type":"menu","choice":0}',
  '{"type":"menu","choice":5}',
  '{"type":"menu","choice":"1"}',
  '{"type":"menu","choice":1.5}',
  '{"type":"ballot","choice":-1}',
  '{"type":"ballot","choice":1e300}',
  '{"type":"vote"}',
  '{"type":"login","version":1.0,"name":"A","number":"1","password":"x"}',
  '{"type":"login","version":"1","name":"A","number":"1","password":"x"}',
  "1e999",
  '{"type":"login","version":1}',
  '{"type":"menu","choice":-0}',
  '{"type":"menu","choice":[1]}',
  '{"type":"ballot","choice":1.0000001}',
  '{"type":"ballot","choice":9007199254740993}',
];

/**
 * A client message as the client sends it: encoded, padded and framed.
 *
 * @param message The message.
 * @returns The frame's bytes.
 */
export function frame(message: ClientMessage): Uint8Array {
  return encodeFrame(encodeMessage(message));
}

/** An election of one voter (Alice) and the seed's two candidates. */
export interface AliceElection extends AsyncDisposable {
  /** The election directory. */
  dir: string;
  /** The file store, open on `dir`. */
  store: FileBoothStore;
  /** The verifier of the election's passwords. */
  verifier: PasswordVerifier;
  /** Closes the store and removes the election. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Creates an election of one voter, Alice, in a temporary directory and
 * opens its file store.
 *
 * @example
 * ```ts
 * await using election = await aliceElection("booth-session-");
 * await election.store.tally();
 * ```
 *
 * @param prefix The temporary directory's name prefix.
 * @returns The open election, closed and removed on disposal.
 */
export async function aliceElection(prefix: string): Promise<AliceElection> {
  await using owned = new AsyncDisposableStack();
  const temp = owned.use(await tempDir(prefix));
  const dir = join(temp.path, "data");
  await createElection(dir, {
    voters: [{ name: "Alice", number: "1123456", password: "1234" }],
    candidates: ["Chris", "Linda"],
  });
  const store = owned.use(await FileBoothStore.open(dir));
  const verifier = new PasswordVerifier(await readElectionKey(dir));
  const resources = owned.move();
  return {
    dir,
    store,
    verifier,
    [Symbol.asyncDispose]: () => resources.disposeAsync(),
  };
}

/**
 * Reads the server's messages from the client end, one at a time.
 *
 * @param connection The client end.
 * @returns A function giving the next message, or `null` once the server
 * has closed the connection.
 */
export function messageReader(
  connection: Connection,
): () => Promise<ServerMessage | null> {
  const decoder = new FrameDecoder(1 << 20);
  const received: ServerMessage[] = [];
  return async () => {
    while (received.length === 0) {
      const chunk = await connection.read();
      if (chunk === null) return null;
      received.push(...decoder.push(chunk).map(decodeServerMessage));
    }
    return received.shift()!;
  };
}

/**
 * Reads the client end until the server closes it.
 *
 * @param connection The client end.
 * @returns Every message the server sent.
 */
export async function replies(
  connection: Connection,
): Promise<ServerMessage[]> {
  const receive = messageReader(connection);
  const messages: ServerMessage[] = [];
  for (let message = await receive(); message; message = await receive()) {
    messages.push(message);
  }
  return messages;
}
