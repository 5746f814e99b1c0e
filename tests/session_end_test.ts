/**
 * How a session ends, over an in-memory pipe: a stopping server finishes the
 * request it is answering before it says `shutdown`, requests ahead of a bad
 * length prefix are answered first, and the client turns each error code into
 * its own line.
 */

import assert from "node:assert/strict";
import { serveConnection } from "../lib/server/booth_server.ts";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { errorLine, ServerChannel } from "../lib/client/voter_client.ts";
import { MAX_SERVER_FRAME_BYTES } from "../lib/wire/framing.ts";
import { ERROR_CODES } from "../lib/wire/protocol.ts";
import type { Connection } from "../lib/wire/connection.ts";
import { memoryPipe } from "./memory_pipe.ts";
import type { PasswordVerifier } from "../lib/election/booth.ts";
import type { BallotOutcome, BoothStore } from "../lib/store/booth_store.ts";
import { ALICE_LOGIN, aliceElection, frame, replies } from "./sessions.ts";

/** Serves the server end with generous limits, until `signal` stops it. */
function serve(
  server: Connection,
  election: { store: BoothStore; verifier: PasswordVerifier },
  signal?: AbortSignal,
): Promise<void> {
  return serveConnection(server, election.store, new LoginThrottle(), {
    loginGraceSeconds: 60,
    idleTimeoutSeconds: 60,
    log: () => {},
    verifier: election.verifier,
    signal,
  });
}

Deno.test("a server stopping during a ballot records and acknowledges it, then says shutdown", async () => {
  await using election = await aliceElection("booth-session-end-");
  const { store } = election;
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
  const serving = serve(
    server,
    { store: slowStore, verifier: election.verifier },
    stopping.signal,
  );
  await client.write(frame(ALICE_LOGIN));
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

Deno.test("a session waiting for a request when the server stops gets shutdown at once", async () => {
  await using election = await aliceElection("booth-session-end-");
  const [client, server] = memoryPipe();
  const stopping = new AbortController();
  const serving = serve(server, election, stopping.signal);
  await client.write(frame(ALICE_LOGIN));
  const first = await client.read();
  assert.ok(first !== null);
  stopping.abort();
  const rest = await replies(client);
  await serving;
  assert.deepEqual(rest.map((m) => m.type === "error" && m.code), [
    "shutdown",
  ]);
});

Deno.test("requests ahead of an oversize length in the same read are answered, then the error, then nothing", async () => {
  await using election = await aliceElection("booth-session-end-");
  const [client, server] = memoryPipe();
  const serving = serve(server, election);
  await client.write(
    new Uint8Array([
      ...frame(ALICE_LOGIN),
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
