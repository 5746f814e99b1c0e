/**
 * Garbage in, clean answers out: property tests (fast-check) that push
 * random, mutated and lying frames into the frame decoder and into whole
 * sessions over in-memory pipes. Every outcome must be a valid reply or a
 * clean close; no exception may escape, and the election must be untouched:
 * the one voter who can log in has voted already, and the other's password
 * is never sent. A failure is shrunk to its smallest input and printed with
 * its seed and path; `FUZZ_SEED=<seed>` replays a run.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { serveConnection } from "../lib/server/booth_server.ts";
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  MAX_CLIENT_FRAME_BYTES,
} from "../lib/wire/framing.ts";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { MemoryLockoutLedger } from "../lib/store/lockout_ledger.ts";
import { decodeServerMessage, encodeMessage } from "../lib/wire/protocol.ts";
import type { ClientMessage } from "../lib/wire/protocol.ts";
import { PasswordVerifier } from "../lib/election/booth.ts";
import { createElection } from "../lib/store/create_election.ts";
import { readElectionKey } from "../lib/store/election_state.ts";
import { FileBoothStore } from "../lib/store/file_store.ts";
import { memoryPipe } from "./memory_pipe.ts";
import { ServerChannel } from "../lib/client/voter_client.ts";
import { tempDir } from "./temp_dir.ts";
import { REFUSED_CLIENT_JSON } from "./sessions.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261126);

/** Alice can log in (and has voted before the fuzzing); Bob's password is never sent. */
const VALID: ClientMessage[] = [
  {
    type: "login",
    version: 1,
    name: "Alice",
    number: "1123456",
    password: "1234",
  },
  {
    type: "login",
    version: 1,
    name: "Bob",
    number: "1138765",
    password: "0000",
  },
  { type: "menu", choice: 1 },
  { type: "menu", choice: 2 },
  { type: "menu", choice: 3 },
  { type: "menu", choice: 4 },
  { type: "ballot", choice: 1 },
  { type: "ballot", choice: 2 },
];

/**
 * JSON a hand-written decoder may trip on: what the protocol refuses, and
 * two messages it accepts though a decoder might not (a `__proto__` key, a
 * name of NUL characters).
 */
const ODD_JSON = [
  ...REFUSED_CLIENT_JSON,
  '{"type":"menu","choice":1,"__proto__":{"x":1}}',
  `{"type":"login","version":1,"name":"${
    "\\u0000".repeat(50)
  }","number":"1","password":"x"}`,
];

const validMessage = fc.constantFrom(...VALID).map(encodeMessage);

/** One payload: valid, mutated, random bytes, odd JSON or any JSON value. */
const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  validMessage,
  fc.tuple(
    validMessage,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 4,
    }),
  ).map(([bytes, changes]) => {
    const mutated = bytes.slice();
    for (const [at, value] of changes) mutated[at % mutated.length] = value;
    return mutated;
  }),
  fc.uint8Array({ maxLength: 200 }),
  fc.constantFrom(...ODD_JSON).map((json) => new TextEncoder().encode(json)),
  fc.jsonValue().map((value) =>
    new TextEncoder().encode(JSON.stringify(value))
  ),
);

/** A frame, perhaps with a lying length prefix, split where TCP may split it. */
const frame: fc.Arbitrary<Uint8Array[]> = fc.record({
  payload,
  lie: fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    fc.nat({ max: 2 ** 32 - 1 }),
    fc.constant(MAX_CLIENT_FRAME_BYTES + 1),
  ),
  cut: fc.nat(),
}).map(({ payload, lie, cut }) => {
  const bytes = encodeFrame(payload, Infinity).slice();
  if (lie !== undefined) new DataView(bytes.buffer).setUint32(0, lie);
  const at = cut % (bytes.length + 1);
  return [bytes.subarray(0, at), bytes.subarray(at)];
});

/** The bytes of one connection: one to six frames, in chunks. */
const stream: fc.Arbitrary<{ chunks: Uint8Array[]; frames: number }> = fc
  .array(frame, { minLength: 1, maxLength: 6 })
  .map((frames) => ({
    chunks: frames.flat().filter((chunk) => chunk.length > 0),
    frames: frames.length,
  }));

/**
 * A conversation: Alice logs in, then mostly valid messages with some
 * garbage, each in an honest frame, and Exit. The server answers or closes
 * on every frame, so the client reads to the end before it closes: these
 * sessions go as deep as a real one.
 */
const conversation: fc.Arbitrary<{ chunks: Uint8Array[]; frames: number }> = fc
  .array(
    fc.oneof({ weight: 4, arbitrary: validMessage }, {
      weight: 1,
      arbitrary: payload,
    }),
    { maxLength: 6 },
  ).map((payloads) => {
    const frames = [
      encodeMessage(VALID[0]),
      ...payloads,
      encodeMessage({ type: "menu", choice: 4 }),
    ].map((bytes) => encodeFrame(bytes, Infinity));
    return { chunks: frames, frames: frames.length };
  });

Deno.test("10,000 random, mutated and lying frame streams into the decoder: frames or a FrameError, nothing else", () => {
  let frames = 0;
  let refused = 0;
  const runs = 10_000;
  fc.assert(
    fc.property(stream, ({ chunks }) => {
      const decoder = new FrameDecoder(MAX_CLIENT_FRAME_BYTES);
      try {
        for (const chunk of chunks) frames += decoder.push(chunk).length;
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        refused++;
      }
    }),
    { seed: SEED, numRuns: runs },
  );
  console.log(
    `decoder fuzz (seed ${SEED}): ${runs} streams, ${frames} frames decoded, ${refused} streams refused`,
  );
  assert.ok(
    frames > runs && refused > runs / 20,
    `frames ${frames}, refused ${refused}`,
  );
});

Deno.test("4,000 fuzzed sessions (over 10,000 frames): valid replies or a clean close, election untouched", async () => {
  await using dir = await tempDir("booth-fuzz-");
  const data = join(dir.path, "data");
  await createElection(data, {
    voters: [
      { name: "Alice", number: "1123456", password: "1234" },
      { name: "Bob", number: "1138765", password: "5678" },
    ],
    candidates: ["Chris", "Linda"],
  });
  const store = await FileBoothStore.open(data);
  try {
    const verifier = new PasswordVerifier(await readElectionKey(data));
    const throttle = new LoginThrottle(new MemoryLockoutLedger(), {
      threshold: 1_000_000,
      windowLimit: 1_000_000,
    });
    /** A session of the server over an in-memory pipe; returns its ends. */
    const serve = () => {
      const [client, server, endInput] = memoryPipe();
      const serving = serveConnection(server, store, throttle, {
        loginGraceSeconds: 60,
        idleTimeoutSeconds: 60,
        verifier,
        log: () => {},
      });
      return { client, serving, endInput };
    };
    /**
     * Serves one connection's bytes; returns the replies, every one valid.
     * The client closes after writing, or, for a conversation, once the
     * server has closed.
     */
    const session = async (chunks: Uint8Array[], readFirst: boolean) => {
      const { client, serving, endInput } = serve();
      for (const chunk of chunks) await client.write(chunk).catch(() => {});
      if (!readFirst) endInput();
      const decoder = new FrameDecoder(1 << 20);
      const replies = [];
      for (
        let chunk = await client.read();
        chunk !== null;
        chunk = await client.read()
      ) {
        replies.push(...decoder.push(chunk).map(decodeServerMessage));
      }
      client.close();
      await serving; // must settle, never reject
      assert.equal(decoder.pendingBytes, 0, "a torn reply");
      return replies;
    };
    // Alice votes first, through a session like any other.
    const { client, serving } = serve();
    const alice = new ServerChannel(client);
    assert.equal((await alice.request(VALID[0])).type, "login");
    assert.equal(
      (await alice.request({ type: "menu", choice: 1 })).type,
      "vote",
    );
    assert.deepEqual(await alice.request({ type: "ballot", choice: 1 }), {
      type: "ballot",
      answer: 1,
    });
    client.close();
    await serving;
    const before = await electionFiles(data);

    const runs = 4_000;
    let sent = 0;
    let replies = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          stream.map((s) => ({ ...s, readFirst: false })),
          conversation.map((c) => ({ ...c, readFirst: true })),
        ),
        async ({ chunks, frames, readFirst }) => {
          const { totals } = await store.tally();
          sent += frames;
          replies += (await session(chunks, readFirst)).length;
          // Checked for each connection, so that fast-check shrinks a vote
          // cast to the smallest conversation that casts it.
          assert.deepEqual(
            (await store.tally()).totals,
            totals,
            "a vote was cast",
          );
        },
      ),
      { seed: SEED + 1, numRuns: runs },
    );
    console.log(
      `session fuzz (seed ${
        SEED + 1
      }): ${runs} connections, ${sent} fuzzed frames, ${replies} valid replies, votes cast ${
        (await store.tally()).voted
      }`,
    );
    assert.ok(sent >= 10_000, `only ${sent} frames sent`);
    assert.ok(replies > 1000, `only ${replies} replies`);
    assert.deepEqual(
      await electionFiles(data),
      before,
      "the fuzzing changed the election",
    );
  } finally {
    await store.close();
  }
  await using reopened = await FileBoothStore.open(data);
  assert.equal((await reopened.tally()).voted, 1);
});

/** The election's files and their contents, but the lock. */
async function electionFiles(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name !== "lock") {
      files[entry.name] = await Deno.readTextFile(join(dir, entry.name));
    }
  }
  return files;
}
