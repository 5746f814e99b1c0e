/**
 * The test vectors file checked against itself, the protocol module and
 * PROTOCOL.md: its frames are what they claim, it covers every message type
 * and every error code, and every JSON example of PROTOCOL.md is one of its
 * frames or replies. (tests/vectors_e2e_test.ts replays it against the
 * server.)
 */

import assert from "node:assert/strict";
import { encodeFrame } from "../lib/wire/framing.ts";
import { encodeMessage, ERROR_CODES } from "../lib/wire/protocol.ts";
import type { ClientMessage } from "../lib/wire/protocol.ts";
import { fromHex, readVectors } from "./vector_format.ts";
import type { Expectation, Step } from "./vector_format.ts";

const vectors = await readVectors();
const steps: Step[] = vectors.suites.flatMap((suite) =>
  suite.cases.flatMap((testCase) => testCase.steps)
);
const expectations: Expectation[] = steps.flatMap((step) => step.expect);
const sentTexts: string[] = steps.flatMap((step) => step.frames ?? []);

const hex = (bytes: Uint8Array) =>
  [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("each vector's hex is exactly its frames, padded and length-prefixed", () => {
  let checked = 0;
  for (const step of steps) {
    if (step.frames === undefined) {
      assert.ok(
        ["wait", "open", "stop-server", "cut-database"].includes(
          step.action ?? "send",
        ) || step.note !== undefined,
        `raw bytes without a note: ${step.hex}`,
      );
      continue;
    }
    // The text is sent as written (1.0 stays 1.0): pad it as it is.
    const frames = step.frames.map((text) => {
      const json = new TextEncoder().encode(text);
      const length = Math.ceil((json.length + 1) / 64) * 64;
      const payload = new Uint8Array(length).fill(0x20);
      payload.set(json);
      return hex(encodeFrame(payload));
    });
    assert.equal(step.hex, frames.join(""), step.frames.join(" "));
    for (const [i, text] of step.frames.entries()) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        continue;
      }
      if (JSON.stringify(value) !== text) continue;
      // Where the text is what the project's encoder writes, it agrees.
      assert.equal(
        frames[i],
        hex(encodeFrame(encodeMessage(value as ClientMessage))),
      );
      checked++;
    }
  }
  assert.ok(checked > 20, `only ${checked} frames checked against the encoder`);
});

Deno.test("the vectors send every client message type and expect every server message type", () => {
  const sentTypes = new Set(
    steps.flatMap((step) =>
      step.frames?.map((text) => {
        try {
          return JSON.parse(text).type;
        } catch {
          return undefined;
        }
      }) ?? []
    ),
  );
  for (const type of ["login", "menu", "ballot"]) {
    assert.ok(sentTypes.has(type), `no vector sends a ${type}`);
  }
  const replyTypes = new Set(expectations.map((e) => e.reply.type));
  for (
    const type of [
      "login",
      "vote",
      "ballot",
      "result",
      "history",
      "bye",
      "error",
    ]
  ) {
    assert.ok(replyTypes.has(type), `no vector expects a ${type}`);
  }
  for (const step of steps) {
    assert.ok(["login", "menu", "ballot"].includes(step.state), step.state);
  }
});

Deno.test("the vectors expect every error code of the closed list, but for the ones declared pending", () => {
  const covered = new Set(
    expectations.filter((e) => e.reply.type === "error").map((e) =>
      e.reply.code
    ),
  );
  for (const code of covered) {
    assert.ok(
      (ERROR_CODES as readonly unknown[]).includes(code),
      `unknown code ${code}`,
    );
  }
  for (const code of ERROR_CODES) {
    const pending = vectors.pendingCodes.includes(code);
    assert.equal(
      covered.has(code),
      !pending,
      pending
        ? `code ${code} is covered now: remove it from pendingCodes`
        : `no vector expects code ${code}`,
    );
  }
});

/** The JSON examples of PROTOCOL.md: each line or block of a json fence. */
function protocolExamples(markdown: string): unknown[] {
  const examples: unknown[] = [];
  for (const [, body] of markdown.matchAll(/```json\n([\s\S]*?)```/g)) {
    try {
      examples.push(JSON.parse(body));
    } catch {
      for (const line of body.split("\n").filter((l) => l.trim() !== "")) {
        examples.push(JSON.parse(line));
      }
    }
  }
  return examples;
}

Deno.test("every JSON example in PROTOCOL.md is a frame or a reply of the vectors", async () => {
  const markdown = await Deno.readTextFile(
    new URL("../PROTOCOL.md", import.meta.url),
  );
  const examples = protocolExamples(markdown);
  assert.ok(examples.length >= 15, `only ${examples.length} examples found`);
  const known = [
    ...sentTexts.map((text) => {
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    }),
    ...expectations.map((e) => e.reply),
  ];
  for (const example of examples) {
    assert.ok(
      known.some((vector) => {
        try {
          assert.deepEqual(vector, example);
          return true;
        } catch {
          return false;
        }
      }),
      `PROTOCOL.md example not in the vectors: ${JSON.stringify(example)}`,
    );
  }
});

Deno.test("the vectors' raw frames are well-formed hex", () => {
  for (const step of steps) {
    if (step.hex === undefined) continue;
    assert.match(step.hex, /^([0-9a-f]{2})+$/);
    assert.equal(hex(fromHex(step.hex)), step.hex);
  }
});

Deno.test("a source address is set only where its connection opens, and a database is cut only in a suite on PostgreSQL", () => {
  let from = 0;
  for (const suite of vectors.suites) {
    for (const testCase of suite.cases) {
      const opened = new Set<string>();
      // The replay's client that binds an address cannot half-close.
      const bound = new Set<string>();
      for (const step of testCase.steps) {
        const conn = step.conn ?? "a";
        if (step.from !== undefined) {
          assert.ok(!opened.has(conn), `${testCase.name}: late from`);
          assert.match(step.from, /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
          bound.add(conn);
          from++;
        }
        opened.add(conn);
        if (bound.has(conn)) {
          assert.notEqual(step.action, "send-then-end", testCase.name);
        }
        if (step.action === "cut-database") {
          assert.equal(suite.store, "postgres", testCase.name);
        }
      }
    }
  }
  assert.ok(from > 0, "no connection from another address");
});
