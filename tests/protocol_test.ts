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
import {
  ALICE_LOGIN,
  CLOSED_ON_ONE_VOTE_FOR_CHRIS,
  REFUSED_CLIENT_JSON,
} from "./sessions.ts";

const raw = (s: string) => new TextEncoder().encode(s);

/** A JSON text padded as the protocol requires, so only its content is judged. */
function padded(json: string): Uint8Array {
  const bytes = raw(json);
  const length = Math.ceil((bytes.length + 1) / PAD_BLOCK_BYTES) *
    PAD_BLOCK_BYTES;
  const payload = new Uint8Array(length).fill(0x20);
  payload.set(bytes);
  return payload;
}

Deno.test("client messages round-trip", () => {
  assert.deepEqual(
    decodeClientMessage(encodeMessage(ALICE_LOGIN)),
    ALICE_LOGIN,
  );
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
    { type: "vote", answer: 0, reason: "already-voted" },
    { type: "vote", answer: 0, reason: "polls-not-open" },
    { type: "vote", answer: 0, reason: "polls-closed" },
    { type: "ballot", answer: 1 },
    { type: "ballot", answer: 0, reason: "storage" },
    { type: "ballot", answer: 0, reason: "already-voted" },
    { type: "ballot", answer: 0, reason: "polls-not-open" },
    { type: "ballot", answer: 0, reason: "polls-closed" },
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
    CLOSED_ON_ONE_VOTE_FOR_CHRIS,
    { type: "history", answer: 1, entry: "Alice 2026-11-26T03:40:12Z" },
    { type: "history", answer: 0 },
    { type: "bye" },
    {
      type: "error",
      code: "idle-timeout",
      message: "Idle for 300 seconds; connection closed",
    },
    {
      type: "error",
      code: "version",
      message: "Unsupported protocol version 2",
      supported: [1],
    },
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
  for (const text of REFUSED_CLIENT_JSON) {
    assert.throws(() => decodeClientMessage(padded(text)), ProtocolError, text);
  }
  const notUtf8 = padded('{"type":"menu","choice":1,"x":"??"}');
  notUtf8.set([0xff, 0xfe], notUtf8.indexOf(0x3f));
  assert.throws(() => decodeClientMessage(notUtf8), {
    message: "Payload is not UTF-8",
  });
});

Deno.test("an integer is refused unless written as one: 1.0, 1e0, 01 and -0 are protocol errors", () => {
  for (const choice of ["1.0", "1e0", "01", "-0", "1E0", "0.1e1", "+1"]) {
    for (const type of ["menu", "ballot"]) {
      const text = `{"type":"${type}","choice":${choice}}`;
      assert.throws(
        () => decodeClientMessage(padded(text)),
        (error: Error) => {
          assert.ok(error instanceof ProtocolError, text);
          assert.equal(error.code, "protocol");
          return true;
        },
        text,
      );
    }
  }
  assert.deepEqual(decodeClientMessage(padded('{"type":"menu","choice":1}')), {
    type: "menu",
    choice: 1,
  });
  assert.throws(
    () => decodeClientMessage(padded('{"type":"menu","choice":1.0}')),
    { message: "Menu choice must be an integer from 1 to 4, got 1.0" },
  );
});

Deno.test("a login in another version is refused with code version, a malformed version with code protocol", () => {
  const login = (version: string) =>
    padded(
      `{"type":"login","version":${version},"name":"A","number":"1","password":"x"}`,
    );
  assert.throws(() => decodeClientMessage(login("2")), {
    name: "ProtocolError",
    code: "version",
    message: "Unsupported protocol version 2",
  });
  for (const version of ["1.0", "0", "-1", '"1"']) {
    assert.throws(() => decodeClientMessage(login(version)), {
      name: "ProtocolError",
      code: "protocol",
    });
  }
});

Deno.test("padding: a multiple of 64 bytes, the JSON object first, then only spaces", () => {
  const menu = '{"type":"menu","choice":1}';
  assert.deepEqual(decodeClientMessage(padded(menu)), {
    type: "menu",
    choice: 1,
  });
  // 63 spaces and 127 spaces are both valid padding.
  const long = raw(menu + " ".repeat(128 - menu.length));
  assert.deepEqual(decodeClientMessage(long), { type: "menu", choice: 1 });
  const refused: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["unpadded", raw(menu)],
    ["short of a block", raw(menu + " ".repeat(10))],
    [
      "no space at all",
      raw(menu.replace("}", " ".repeat(64 - menu.length) + "}")),
    ],
    ["tab padding", raw(menu + "\t".repeat(64 - menu.length))],
    [
      "newline before the spaces",
      raw(menu + "\n" + " ".repeat(63 - menu.length)),
    ],
    ["leading whitespace", raw(" " + menu + " ".repeat(63 - menu.length))],
    [
      "NUL padding",
      new Uint8Array(64).fill(0).map((_, i) => raw(menu)[i] ?? 0),
    ],
    ["two objects", padded(menu + menu)],
  ];
  for (const [what, payload] of refused) {
    assert.throws(() => decodeClientMessage(payload), ProtocolError, what);
  }
  assert.throws(() => decodeClientMessage(raw(menu)), {
    message: "Payload of 26 bytes is not padded to a multiple of 64",
  });
});

Deno.test("the 256-character limit counts Unicode code points, not UTF-16 units or bytes", () => {
  const login = (name: string) =>
    padded(JSON.stringify({
      type: "login",
      version: 1,
      name,
      number: "1",
      password: "x",
    }));
  // 256 emoji: 512 UTF-16 units, 1,024 bytes of UTF-8, and within the limit.
  const emoji = "\u{1F5F3}".repeat(256);
  assert.equal(
    (decodeClientMessage(login(emoji)) as { name: string }).name,
    emoji,
  );
  assert.throws(() => decodeClientMessage(login(emoji + "a")), ProtocolError);
  assert.throws(
    () => decodeClientMessage(login("A\ud800")),
    ProtocolError,
    "a lone surrogate is not Unicode text",
  );
});

Deno.test("malformed server messages are refused with a ProtocolError", () => {
  for (
    const text of [
      '{"type":"login"}',
      '{"type":"vote","answer":1}',
      '{"type":"vote","answer":1,"candidates":[]}',
      '{"type":"result","answer":1,"winners":[],"totals":[{"candidate":"A","votes":-1}]}',
      '{"type":"x"}',
      '{"type":"ballot","answer":1.0}',
      '{"type":"login","answer":0,"attemptsLeft":2,"retryAfterSeconds":0}',
      '{"type":"error","message":"no code"}',
      '{"type":"ballot","answer":0,"reason":"bored"}',
      '{"type":"vote","answer":0,"reason":"storage"}',
      '{"type":"result","answer":1,"winners":["A"],"totals":[{"candidate":"A","votes":1}],"turnout":{"voted":1.0,"registered":3}}',
      '{"type":"result","answer":1,"winners":["A"],"totals":[{"candidate":"A","votes":4}],"turnout":{"voted":4,"registered":3}}',
      '{"type":"error","code":"teapot","message":"unknown code"}',
      '{"type":"error","code":"version","message":"no list"}',
    ]
  ) {
    assert.throws(
      () => decodeServerMessage(padded(text)),
      ProtocolError,
      text,
    );
  }
});

Deno.test("a result whose parts disagree is a protocol error; every result an honest server sends decodes", () => {
  const result = (
    winners: string[],
    votes: [string, number][],
    turnout?: { voted: number; registered: number },
  ) =>
    JSON.stringify({
      type: "result",
      answer: 1,
      winners,
      totals: votes.map(([candidate, n]) => ({ candidate, votes: n })),
      ...(turnout && { turnout }),
    });
  const refused = {
    "no candidates": result([], []),
    "no winner": result([], [["Chris", 0], ["Linda", 3]]),
    "a winner with fewer votes": result(["Chris"], [["Chris", 0], [
      "Linda",
      3,
    ]]),
    "a winner off the ballot": result(["Mallory"], [["Chris", 0], [
      "Linda",
      3,
    ]]),
    "a tie with one winner": result(["Chris"], [["Chris", 2], ["Linda", 2]]),
    "a tie out of ballot order": result(["Linda", "Chris"], [["Chris", 2], [
      "Linda",
      2,
    ]]),
    "a candidate twice": result(["Chris"], [["Chris", 2], ["Chris", 1]]),
    "a turnout once everyone voted": result(["Chris"], [["Chris", 3]], {
      voted: 3,
      registered: 3,
    }),
    "totals that are not the turnout": result(["Chris"], [["Chris", 2]], {
      voted: 1,
      registered: 3,
    }),
  };
  for (const [name, text] of Object.entries(refused)) {
    assert.throws(() => decodeServerMessage(padded(text)), ProtocolError, name);
  }
  const honest = [
    result(["Linda"], [["Chris", 0], ["Linda", 3]]),
    result(["Chris", "Linda"], [["Chris", 2], ["Linda", 2]]),
    result(["Chris", "Linda"], [["Chris", 0], ["Linda", 0]], {
      voted: 0,
      registered: 3,
    }),
    result(["Chris"], [["Chris", 1], ["Linda", 0]], {
      voted: 1,
      registered: 3,
    }),
  ];
  for (const text of honest) {
    assert.equal(decodeServerMessage(padded(text)).type, "result", text);
  }
});

Deno.test("a hostile value in an error message is escaped and cut short", () => {
  const hostile = "\u001b[31m\n" + "x".repeat(3000);
  assert.throws(
    () => decodeClientMessage(padded(JSON.stringify({ type: hostile }))),
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
