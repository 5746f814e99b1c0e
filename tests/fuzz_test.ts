/**
 * Garbage in, clean answers out: seeded random and mutated frames into the
 * frame decoder and into whole sessions over in-memory pipes. Every outcome
 * must be a valid reply or a clean close; no exception may escape, and the
 * election must be untouched. A failure prints its seed to replay it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
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

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261126);

/** A small, seedable PRNG (mulberry32), so every run can be replayed. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(items: readonly T[]) => items[int(items.length)],
  };
}

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
  { type: "ballot", choice: 1 },
  { type: "ballot", choice: 2 },
];

/** One fuzzed payload: valid, mutated, random bytes, or odd JSON. */
function fuzzPayload(r: ReturnType<typeof random>): Uint8Array {
  const kind = r.int(5);
  if (kind === 0) return encodeMessage(r.pick(VALID));
  if (kind === 1) {
    const bytes = encodeMessage(r.pick(VALID)).slice();
    for (let i = 0, n = 1 + r.int(4); i < n; i++) {
      bytes[r.int(bytes.length)] = r.int(256);
    }
    return bytes;
  }
  if (kind === 2) {
    return Uint8Array.from({ length: r.int(200) }, () => r.int(256));
  }
  const json = r.pick([
    "{}",
    "[]",
    "null",
    "1e999",
    '{"type":"login","version":1}',
    '{"type":"menu","choice":-0}',
    '{"type":"ballot","choice":1.0000001}',
    '{"type":"menu","choice":1,"__proto__":{"x":1}}',
    `{"type":"login","version":1,"name":"${
      "\\u0000".repeat(50)
    }","number":"1","password":"x"}`,
    '{"type":"ballot","choice":9007199254740993}',
    '{"type":"menu","choice":[1]}',
  ]);
  return new TextEncoder().encode(json);
}

/** The bytes of one fuzzed connection: frames, some with lying length prefixes. */
function fuzzStream(
  r: ReturnType<typeof random>,
): { chunks: Uint8Array[]; frames: number } {
  const chunks: Uint8Array[] = [];
  const frames = 1 + r.int(6);
  for (let i = 0; i < frames; i++) {
    const frame = encodeFrame(fuzzPayload(r), Infinity).slice();
    const lie = r.int(10);
    if (lie === 0) new DataView(frame.buffer).setUint32(0, r.int(2 ** 32));
    if (lie === 1) {
      new DataView(frame.buffer).setUint32(0, MAX_CLIENT_FRAME_BYTES + 1);
    }
    // Split the frame at a random point, as TCP may.
    const cut = r.int(frame.length + 1);
    chunks.push(frame.subarray(0, cut), frame.subarray(cut));
  }
  return { chunks: chunks.filter((c) => c.length > 0), frames };
}

Deno.test("10,000 random and mutated frames into the decoder: frames or a FrameError, nothing else", () => {
  const r = random(SEED);
  let frames = 0;
  let refused = 0;
  for (let i = 0; i < 10_000; i++) {
    const decoder = new FrameDecoder(MAX_CLIENT_FRAME_BYTES);
    try {
      for (const chunk of fuzzStream(r).chunks) {
        frames += decoder.push(chunk).length;
      }
    } catch (error) {
      assert.ok(
        error instanceof FrameError,
        `seed ${SEED}, case ${i}: ${error}`,
      );
      refused++;
    }
  }
  console.log(
    `decoder fuzz (seed ${SEED}): 10000 streams, ${frames} frames decoded, ${refused} streams refused`,
  );
  assert.ok(
    frames > 10_000 && refused > 500,
    `frames ${frames}, refused ${refused}`,
  );
});

Deno.test("4,000 fuzzed sessions (over 10,000 frames): valid replies or a clean close, election untouched", async () => {
  const dir = join(await Deno.makeTempDir({ prefix: "booth-fuzz-" }), "data");
  await createElection(dir, {
    voters: [{ name: "Alice", number: "1123456", password: "1234" }, {
      name: "Bob",
      number: "1138765",
      password: "5678",
    }],
    candidates: ["Chris", "Linda"],
  });
  const store = await FileBoothStore.open(dir);
  const verifier = new PasswordVerifier(await readElectionKey(dir));
  const throttle = new LoginThrottle(new MemoryLockoutLedger(), {
    threshold: 1_000_000,
    windowLimit: 1_000_000,
  });
  const r = random(SEED + 1);
  let sent = 0;
  let replies = 0;
  for (let i = 0; i < 4_000; i++) {
    const [client, server, endInput] = memoryPipe();
    const serving = serveConnection(server, store, throttle, {
      loginGraceSeconds: 60,
      idleTimeoutSeconds: 60,
      verifier,
      log: () => {},
    });
    const { chunks, frames } = fuzzStream(r);
    sent += frames;
    for (const chunk of chunks) await client.write(chunk).catch(() => {});
    endInput();
    await serving; // must settle, never reject
    // Everything the server answered is a valid frame holding a valid message.
    const decoder = new FrameDecoder(1 << 20);
    for (
      let chunk = await client.read();
      chunk !== null;
      chunk = await client.read()
    ) {
      for (const frame of decoder.push(chunk)) {
        decodeServerMessage(frame);
        replies++;
      }
    }
    assert.equal(
      decoder.pendingBytes,
      0,
      `seed ${SEED + 1}, case ${i}: a torn reply`,
    );
  }
  const { voted } = await store.tally();
  console.log(
    `session fuzz (seed ${
      SEED + 1
    }): 4000 connections, ${sent} fuzzed frames, ${replies} valid replies, votes cast ${voted}`,
  );
  assert.ok(sent >= 10_000, `only ${sent} frames sent`);
  assert.ok(replies > 1000, `only ${replies} replies`);
  // Votes may have been cast by fuzzed valid ballots, but never more than one per voter.
  assert.ok(voted <= 2);
  await store.close();
  const reopened = await FileBoothStore.open(dir);
  assert.equal((await reopened.tally()).voted, voted);
  await reopened.close();
});
