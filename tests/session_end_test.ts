/**
 * How a session ends, over an in-memory pipe: a stopping server finishes the
 * request it is answering before it says `shutdown`, requests ahead of a bad
 * length prefix are answered first, and the client turns each error code into
 * its own line.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { serveConnection } from "../lib/server/booth_server.ts";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { errorLine, ServerChannel } from "../lib/client/voter_client.ts";
import {
  encodeFrame,
  FrameDecoder,
  MAX_SERVER_FRAME_BYTES,
} from "../lib/wire/framing.ts";
import {
  decodeServerMessage,
  encodeMessage,
  ERROR_CODES,
} from "../lib/wire/protocol.ts";
import type { ClientMessage, ServerMessage } from "../lib/wire/protocol.ts";
import type { Connection } from "../lib/wire/connection.ts";
import { memoryPipe } from "./memory_pipe.ts";
import { PasswordVerifier } from "../lib/election/booth.ts";
import type { BallotOutcome, BoothStore } from "../lib/store/booth_store.ts";
import { createElection } from "../lib/store/create_election.ts";
import { readElectionKey } from "../lib/store/election_state.ts";
import { FileBoothStore } from "../lib/store/file_store.ts";
import { tempDir } from "./temp_dir.ts";

async function withStore(
  run: (store: FileBoothStore, verifier: PasswordVerifier) => Promise<void>,
): Promise<void> {
  await using temp = await tempDir("booth-session-end-");
  const dir = join(temp.path, "data");
  await createElection(dir, {
    voters: [{ name: "Alice", number: "1123456", password: "1234" }],
    candidates: ["Chris", "Linda"],
  });
  await using store = await FileBoothStore.open(dir);
  await run(store, new PasswordVerifier(await readElectionKey(dir)));
}

const frame = (message: ClientMessage) => encodeFrame(encodeMessage(message));

/** Reads the client end until the server closes: every message it sent. */
async function replies(client: Connection): Promise<ServerMessage[]> {
  const decoder = new FrameDecoder(1 << 20);
  const messages: ServerMessage[] = [];
  for (let chunk = await client.read(); chunk; chunk = await client.read()) {
    messages.push(...decoder.push(chunk).map(decodeServerMessage));
  }
  return messages;
}

const ALICE = {
  type: "login",
  version: 1,
  name: "Alice",
  number: "1123456",
  password: "1234",
} as const;

Deno.test("a server stopping during a ballot records and acknowledges it, then says shutdown", async () => {
  await withStore(async (store, verifier) => {
    const commit = Promise.withResolvers<void>();
    const ballotArrived = Promise.withResolvers<void>();
    // The real store, with each ballot held until the test lets it commit.
    const slowStore: BoothStore = {
      candidates: store.candidates,
      findVoter: (number) => store.findVoter(number),
      hasVoted: (voter) => store.hasVoted(voter),
      async recordBallot(voter, choice): Promise<BallotOutcome> {
        ballotArrived.resolve();
        await commit.promise;
        return await store.recordBallot(voter, choice);
      },
      tally: () => store.tally(),
      voteOf: (voter) => store.voteOf(voter),
      pollsWindow: () => store.pollsWindow(),
      close: () => Promise.resolve(),
      [Symbol.asyncDispose]: () => Promise.resolve(),
    };
    const [client, server] = memoryPipe();
    const stopping = new AbortController();
    const serving = serveConnection(server, slowStore, new LoginThrottle(), {
      loginGraceSeconds: 60,
      idleTimeoutSeconds: 60,
      log: () => {},
      verifier,
      signal: stopping.signal,
    });
    await client.write(frame(ALICE));
    await client.write(frame({ type: "menu", choice: 1 }));
    await client.write(frame({ type: "ballot", choice: 2 }));
    await ballotArrived.promise;
    stopping.abort();
    commit.resolve();
    const received = await replies(client);
    await serving;
    assert.deepEqual(received.slice(2), [
      { type: "ballot", answer: 1 },
      {
        type: "error",
        code: "shutdown",
        message: "The server is shutting down; connection closed",
      },
    ]);
    assert.equal((await store.tally()).voted, 1);
  });
});

Deno.test("a session waiting for a request when the server stops gets shutdown at once", async () => {
  await withStore(async (store, verifier) => {
    const [client, server] = memoryPipe();
    const stopping = new AbortController();
    const serving = serveConnection(server, store, new LoginThrottle(), {
      loginGraceSeconds: 60,
      idleTimeoutSeconds: 60,
      log: () => {},
      verifier,
      signal: stopping.signal,
    });
    await client.write(frame(ALICE));
    const first = await client.read();
    assert.ok(first !== null);
    stopping.abort();
    const rest = await replies(client);
    await serving;
    assert.deepEqual(rest.map((m) => m.type === "error" && m.code), [
      "shutdown",
    ]);
  });
});

Deno.test("requests ahead of an oversize length in the same read are answered, then the error, then nothing", async () => {
  await withStore(async (store, verifier) => {
    const [client, server] = memoryPipe();
    const serving = serveConnection(server, store, new LoginThrottle(), {
      loginGraceSeconds: 60,
      idleTimeoutSeconds: 60,
      log: () => {},
      verifier,
    });
    await client.write(
      new Uint8Array([
        ...frame(ALICE),
        ...frame({ type: "menu", choice: 3 }),
        0xff,
        0xff,
        0xff,
        0xff,
        ...frame({ type: "menu", choice: 4 }),
      ]),
    );
    const received = await replies(client);
    await serving;
    assert.deepEqual(received, [
      { type: "login", answer: 1, name: "Alice" },
      { type: "history", answer: 0 },
      {
        type: "error",
        code: "protocol",
        message: "Frame of 4294967295 bytes exceeds the limit of 4096",
      },
    ]);
  });
});

Deno.test("the client has its own line for every error code, and shows the server's text only for protocol", () => {
  const lines = ERROR_CODES.map((code) =>
    errorLine({ type: "error", code, message: "SERVER TEXT", supported: [1] })
  );
  assert.equal(new Set(lines).size, ERROR_CODES.length);
  for (const [i, code] of ERROR_CODES.entries()) {
    assert.equal(lines[i].includes("SERVER TEXT"), code === "protocol", code);
    assert.doesNotMatch(lines[i], /\.$/);
  }
});

Deno.test("a server frame above the client's limit ends the session before its payload arrives", async () => {
  const [client, server] = memoryPipe();
  try {
    const channel = new ServerChannel(client);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, MAX_SERVER_FRAME_BYTES + 1);
    await server.write(header);
    await assert.rejects(channel.receive(), {
      name: "SessionEndedError",
      message: `The server sent an invalid message: Frame of ${
        MAX_SERVER_FRAME_BYTES + 1
      } bytes exceeds the limit of ${MAX_SERVER_FRAME_BYTES}`,
    });
  } finally {
    client.close();
    server.close();
  }
});
