/** The booth's messages: strict decoding and padding against length leaks. */

import assert from "node:assert/strict";
import {
  decodeClientMessage,
  decodeServerMessage,
  encodeMessage,
  PAD_BLOCK_BYTES,
  ProtocolError,
} from "../lib/wire/protocol.ts";
import type { ServerMessage } from "../lib/wire/protocol.ts";

const raw = (s: string) => new TextEncoder().encode(s);

Deno.test("client messages round-trip", () => {
  const login = {
    type: "login",
    version: 1,
    name: "Alice",
    number: "1123456",
    password: "1234",
  } as const;
  assert.deepEqual(decodeClientMessage(encodeMessage(login)), login);
  assert.deepEqual(
    decodeClientMessage(encodeMessage({ type: "menu", choice: 3 })),
    { type: "menu", choice: 3 },
  );
  assert.deepEqual(
    decodeClientMessage(encodeMessage({ type: "ballot", choice: 2 })),
    { type: "ballot", choice: 2 },
  );
});

Deno.test("server messages round-trip", () => {
  const messages: ServerMessage[] = [
    { type: "login", answer: 1, name: "Alice" },
    { type: "login", answer: 0, attemptsLeft: 2 },
    { type: "login", answer: 0, attemptsLeft: 1, retryAfterSeconds: 30 },
    { type: "vote", answer: 1, candidates: ["Chris", "Linda"] },
    { type: "vote", answer: 0 },
    { type: "ballot", answer: 1 },
    { type: "ballot", answer: 0, reason: "storage" },
    { type: "result", answer: 0 },
    {
      type: "result",
      answer: 1,
      winners: ["Chris"],
      totals: [{ candidate: "Chris", votes: 2 }, {
        candidate: "Linda",
        votes: 1,
      }],
    },
    { type: "history", answer: 1, entry: "Alice 2026-11-26T03:40:12Z" },
    { type: "history", answer: 0 },
    { type: "bye" },
    { type: "error", message: "Idle for 300 seconds; connection closed" },
  ];
  for (const message of messages) {
    assert.deepEqual(decodeServerMessage(encodeMessage(message)), message);
  }
});

Deno.test("every payload is padded to a whole number of blocks", () => {
  for (const name of ["A", "A".repeat(100), "A".repeat(200)]) {
    const payload = encodeMessage({ type: "login", answer: 1, name });
    assert.equal(payload.length % PAD_BLOCK_BYTES, 0);
  }
});

Deno.test("a ballot is the same size on the wire whichever candidate is chosen", () => {
  const sizes = new Set(
    [1, 2, 9, 10, 99, 1000, 99999].map((choice) =>
      encodeMessage({ type: "ballot", choice }).length
    ),
  );
  assert.equal(sizes.size, 1);
});

Deno.test("malformed client messages are refused with a ProtocolError", () => {
  const bad = [
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
  ];
  for (const text of bad) {
    assert.throws(() => decodeClientMessage(raw(text)), ProtocolError, text);
  }
  assert.throws(
    () => decodeClientMessage(new Uint8Array([0xff, 0xfe])),
    ProtocolError,
    "not UTF-8",
  );
});

Deno.test("malformed server messages are refused with a ProtocolError", () => {
  for (
    const text of [
      '{"type":"login"}',
      '{"type":"vote","answer":1}',
      '{"type":"result","answer":1,"winners":[],"totals":[{"candidate":"A","votes":-1}]}',
      '{"type":"x"}',
    ]
  ) {
    assert.throws(() => decodeServerMessage(raw(text)), ProtocolError, text);
  }
});

Deno.test("a hostile value in an error message is escaped and cut short", () => {
  const hostile = "\u001b[31m\n" + "x".repeat(3000);
  assert.throws(
    () => decodeClientMessage(raw(JSON.stringify({ type: hostile }))),
    (error: Error) => {
      assert.ok(error instanceof ProtocolError);
      assert.ok(error.message.length < 100, error.message);
      assert.ok(
        ![...error.message].some((c) => c.charCodeAt(0) < 0x20),
        "control characters escaped",
      );
      assert.match(
        error.message,
        /^Unknown client message type "\\u001b\[31m\\nx+\.\.\.$/,
      );
      return true;
    },
  );
});
