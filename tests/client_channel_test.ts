/**
 * The client's channel and terminal escaping without sockets: the answer
 * time limit on a fake clock, and which characters are shown escaped.
 */

import assert from "node:assert/strict";
import { encodeFrame } from "../lib/wire/framing.ts";
import { decodeClientMessage, encodeMessage } from "../lib/wire/protocol.ts";
import { FrameDecoder } from "../lib/wire/framing.ts";
import { memoryPipe } from "./memory_pipe.ts";
import {
  DEFAULT_ANSWER_TIMEOUT_MS,
  runVoterSession,
  ServerChannel,
  SessionEndedError,
} from "../lib/client/voter_client.ts";
import { lineInput } from "../lib/client/line_input.ts";
import type { LineInput } from "../lib/client/line_input.ts";
import type { StartTimer } from "../lib/client/voter_client.ts";
import { escapeForTerminal } from "../lib/terminal/escape.ts";

/** A clock that only moves when the test says so. */
function fakeTimer() {
  const timers: { ms: number; fire: () => void; cancelled: boolean }[] = [];
  const start: StartTimer = (ms, fire) => {
    const timer = { ms, fire, cancelled: false };
    timers.push(timer);
    return () => timer.cancelled = true;
  };
  return { start, timers };
}

Deno.test("an answer that does not come within the time limit ends the session; one that does cancels the timer", async () => {
  const [client, server] = memoryPipe();
  const clock = fakeTimer();
  const channel = new ServerChannel(client, {
    answerTimeoutMs: 5000,
    startTimer: clock.start,
  });
  try {
    const answered = channel.request({ type: "menu", choice: 3 });
    await server.read();
    await server.write(
      encodeFrame(encodeMessage({ type: "history", answer: 0 })),
    );
    assert.deepEqual(await answered, { type: "history", answer: 0 });
    assert.equal(clock.timers.length, 1);
    assert.equal(clock.timers[0].ms, 5000);
    assert.ok(clock.timers[0].cancelled, "the timer outlived its answer");

    const late = channel.request({ type: "menu", choice: 3 });
    await server.read();
    assert.equal(clock.timers.length, 2);
    clock.timers[1].fire();
    await assert.rejects(late, (error: Error) => {
      assert.ok(error instanceof SessionEndedError);
      assert.equal(
        error.message,
        "The server did not answer within 5 seconds (--timeout sets the limit)",
      );
      return true;
    });
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("the answer time limit is 30 seconds unless told", async () => {
  const [client, server] = memoryPipe();
  const clock = fakeTimer();
  const channel = new ServerChannel(client, { startTimer: clock.start });
  try {
    const pending = channel.receive();
    assert.equal(DEFAULT_ANSWER_TIMEOUT_MS, 30_000);
    assert.equal(clock.timers[0].ms, 30_000);
    clock.timers[0].fire();
    await assert.rejects(pending, SessionEndedError);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("controls, DEL, C1, ESC, format characters and default-ignorable code points are shown escaped; newlines only when allowed", () => {
  const cases: [string, string][] = [
    ["plain Linda 42", "plain Linda 42"],
    ["Ünïcödé, 中文, emoji 🗳", "Ünïcödé, 中文, emoji 🗳"],
    ["\x1b[2J", "\\x1b[2J"],
    ["\x00\x07\x08\t\r", "\\x00\\x07\\x08\\x09\\x0d"],
    ["\x7f\x80\x9b\x9f", "\\x7f\\x80\\x9b\\x9f"],
    ["\u202eadniL\u202c", "\\u{202E}adniL\\u{202C}"],
    [
      "\u2066\u2067\u2068\u2069\u200e\u200f",
      "\\u{2066}\\u{2067}\\u{2068}\\u{2069}\\u{200E}\\u{200F}",
    ],
    [
      "Chris\u200b\u200c\u200d\ufeff\u00ad",
      "Chris\\u{200B}\\u{200C}\\u{200D}\\u{FEFF}\\xad",
    ],
    ["\u2028\u2029", "\\u{2028}\\u{2029}"],
    // Default-ignorable code points: a variation selector, a Hangul filler.
    [
      "Chris\ufe00 Chris\u3164 Chr\u034fis",
      "Chris\\u{FE00} Chris\\u{3164} Chr\\u{034F}is",
    ],
    ["\u{e0041}", "\\u{E0041}"],
    ["lone \ud800 surrogate", "lone \\u{D800} surrogate"],
    ["two\nlines", "two\nlines"],
  ];
  for (const [text, shown] of cases) {
    assert.equal(escapeForTerminal(text), shown, JSON.stringify(text));
    assert.equal(escapeForTerminal(shown), shown, "escaping twice");
  }
  assert.equal(escapeForTerminal("a\nb", { newlines: false }), "a\\x0ab");
});

/** Answers from a list, then end of input. */
function typed(...answers: string[]): LineInput {
  return { readLine: () => Promise.resolve(answers.shift() ?? null) };
}

Deno.test("the client sends a name typed in NFD in NFC, the form of the roll", async () => {
  const [client, server] = memoryPipe();
  const session = runVoterSession(
    client,
    typed("Zoe\u0308", "1160000", "4321"),
    () => {},
  );
  try {
    const decoder = new FrameDecoder(4096);
    let frames: Uint8Array[] = [];
    while (frames.length === 0) {
      const chunk = await server.read();
      assert.ok(chunk !== null, "the client sent no login");
      frames = decoder.push(chunk);
    }
    const login = decodeClientMessage(frames[0]);
    assert.equal(login.type === "login" && login.name, "Zo\u00eb");
  } finally {
    server.close();
    await session.catch(() => {});
    client.close();
  }
});

Deno.test("the password prompt is written only once the terminal no longer echoes: a password typed at once is never shown", async () => {
  const events: string[] = [];
  const typed = new TextEncoder().encode("pw-zoe\r");
  let sent = false;
  const input = lineInput({
    stdin: {
      isTerminal: () => true,
      setRaw: (raw) => void events.push(raw ? "raw" : "cooked"),
      read(buffer) {
        if (sent) return Promise.resolve(null);
        sent = true;
        buffer.set(typed);
        return Promise.resolve(typed.length);
      },
    },
    stdout: {
      writeSync(bytes) {
        events.push(`write ${new TextDecoder().decode(bytes)}`);
        return bytes.length;
      },
    },
  });
  assert.equal(await input.readLine("Password:", { secret: true }), "pw-zoe");
  assert.deepEqual(events.slice(0, 2), ["raw", "write Password: "]);
  assert.ok(!events.some((e) => e.includes("pw-zoe")), events.join("|"));
});
