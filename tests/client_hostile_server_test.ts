/**
 * A malicious server against the real client: a real TLS server in the test,
 * with the election's certificate, sending hostile replies. Nothing it sends
 * reaches the voter's terminal unescaped, a reply must answer the request,
 * and every answer has a time limit.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import tls from "node:tls";
import type { Socket } from "node:net";
import {
  encodeFrame,
  FrameDecoder,
  MAX_CLIENT_FRAME_BYTES,
} from "../lib/wire/framing.ts";
import { decodeClientMessage, encodeMessage } from "../lib/wire/protocol.ts";
import type { ClientMessage, ServerMessage } from "../lib/wire/protocol.ts";
import {
  ALICE,
  clientFlags,
  lines,
  runProgram,
  testCerts,
  typed,
} from "./helpers.ts";
import type { Output } from "./helpers.ts";

/**
 * What the hostile server answers to the n-th request: a message, an array
 * of messages sent in one write, or null for nothing.
 */
type Script = (request: ClientMessage, index: number) => unknown;

/** A TLS server with the election's certificate that follows a script. */
async function hostileServer(script: Script) {
  const certs = await testCerts();
  const sockets = new Set<Socket>();
  const requests: ClientMessage[] = [];
  const server = tls.createServer({
    cert: await Deno.readTextFile(join(certs, "server.crt")),
    key: await Deno.readTextFile(join(certs, "server.key")),
  }, (socket) => {
    const decoder = new FrameDecoder(MAX_CLIENT_FRAME_BYTES);
    socket.on("data", (chunk: Uint8Array) => {
      for (const frame of decoder.push(new Uint8Array(chunk))) {
        const request = decodeClientMessage(frame);
        requests.push(request);
        const reply = script(request, requests.length - 1);
        if (reply === null) continue;
        // An array is several messages sent in one write.
        // Padded as the protocol requires, so that what the client refuses
        // is the hostile content, not the framing.
        const frames = (Array.isArray(reply) ? reply : [reply]).map((message) =>
          encodeFrame(encodeMessage(message as ServerMessage))
        );
        socket.write(concat(frames));
      }
    });
    socket.on("error", () => socket.destroy());
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  const port = (server.address() as { port: number }).port;
  return {
    port,
    requests,
    /** Runs the real client against this server with the voter's answers. */
    client(answers: string[], extraArgs: string[] = []): Promise<Output> {
      return runProgram(
        "client",
        clientFlags(port, join(certs, "ca.crt"), ...extraArgs),
        { stdin: typed(answers) },
      );
    },
    async [Symbol.asyncDispose]() {
      const closed = new Promise<void>((resolve) =>
        server.close(() => resolve())
      );
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/** Characters a terminal would obey: controls (not newline), DEL, C1, format. */
// deno-lint-ignore no-control-regex -- finding control characters is the point
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\p{Cf}\u2028\u2029]/u;

const login = { type: "login", answer: 1, name: "Alice" };

Deno.test("a hostile server's escape sequences, bidi overrides and zero-width characters reach the terminal escaped", async () => {
  const ESC = "\x1b";
  await using server = await hostileServer((request) => {
    if (request.type === "login") {
      return { ...login, name: `Alice${ESC}[2J${ESC}[H` };
    }
    if (request.type === "ballot") return { type: "ballot", answer: 1 };
    switch (request.choice) {
      case 1:
        return {
          type: "vote",
          answer: 1,
          candidates: [
            `Chris${ESC}]52;c;aGVsbG8=\x07`,
            "\u202eadniL",
            "Linda\u200b",
            "Tom\nfake line",
          ],
        };
      case 3:
        return {
          type: "history",
          answer: 1,
          entry: "Alice\r...recorded for Linda\x7f",
        };
      default:
        return {
          type: "error",
          code: "protocol",
          message: "Bye\x9b31m\u2066 now\nfake line",
        };
    }
  });
  const out = await server.client([...ALICE, "1", "2", "3", "2"]);
  assert.equal(out.code, 1);
  assert.doesNotMatch(out.stdout, UNSAFE);
  assert.doesNotMatch(out.stderr, UNSAFE);
  const shown = lines(out.stdout);
  assert.ok(shown.includes("Welcome Alice\\x1b[2J\\x1b[H!"), out.stdout);
  assert.ok(shown.includes("1. Chris\\x1b]52;c;aGVsbG8=\\x07"), out.stdout);
  assert.ok(shown.includes("2. \\u{202E}adniL"), out.stdout);
  assert.ok(shown.includes("3. Linda\\u{200B}"), out.stdout);
  assert.ok(shown.includes("4. Tom\\x0afake line"), out.stdout);
  assert.ok(shown.includes("Alice\\x0d...recorded for Linda\\x7f"), out.stdout);
  assert.deepEqual(lines(out.stderr), [
    "The server refused a message of this client: Bye\\x9b31m\\u{2066} now\\x0afake line",
  ]);
});

Deno.test("a reply that does not answer the request sent is a protocol error", async () => {
  const cases = [
    {
      answers: [...ALICE, "3"],
      reply: { type: "result", answer: 0 },
      message: 'a "result" answer to menu choice 3',
    },
    {
      answers: [...ALICE, "4"],
      reply: { type: "vote", answer: 0 },
      message: 'a "vote" answer to menu choice 4',
    },
    {
      answers: [...ALICE],
      reply: { type: "bye" },
      message: 'a "bye" answer to a "login" request',
    },
  ];
  for (const { answers, reply, message } of cases) {
    await using server = await hostileServer((request) =>
      request.type === "login" && reply.type !== "bye" ? login : reply
    );
    const out = await server.client(answers);
    assert.equal(out.code, 1, message);
    assert.deepEqual(lines(out.stderr), [
      `The server sent an invalid message: ${message}`,
    ]);
    assert.ok(!out.stdout.includes("Goodbye"), message);
  }
});

Deno.test("a message the client did not ask for is a protocol error", async () => {
  await using server = await hostileServer((request) =>
    request.type === "login"
      ? [login, { type: "ballot", answer: 1 }]
      : { type: "history", answer: 0 }
  );
  // Two frames in one write: the second answers nothing.
  const out = await server.client([...ALICE, "3"]);
  assert.equal(out.code, 1);
  assert.deepEqual(lines(out.stderr), [
    'The server sent an invalid message: a "ballot" message nobody asked for',
  ]);
  assert.equal(server.requests.length, 1, "the menu choice was not sent");
});

Deno.test("a ballot of zero candidates is a protocol error", async () => {
  await using server = await hostileServer((request) =>
    request.type === "login"
      ? login
      : { type: "vote", answer: 1, candidates: [] }
  );
  const out = await server.client([...ALICE, "1", "1"]);
  assert.equal(out.code, 1);
  assert.deepEqual(lines(out.stderr), [
    'The server sent an invalid message: Malformed server message of type "vote"',
  ]);
  assert.ok(!out.stdout.includes("Candidates:"), out.stdout);
});

Deno.test("a result whose winners are not the top is a protocol error, not a line of nonsense", async () => {
  await using server = await hostileServer((request) =>
    request.type === "login" ? login : {
      type: "result",
      answer: 1,
      winners: ["Mallory"],
      totals: [{ candidate: "Chris", votes: 0 }, {
        candidate: "Linda",
        votes: 3,
      }],
    }
  );
  const out = await server.client([...ALICE, "2", "4"]);
  assert.equal(out.code, 1);
  assert.deepEqual(lines(out.stderr), [
    'The server sent an invalid message: Malformed server message of type "result"',
  ]);
  assert.ok(!out.stdout.includes("Mallory"), out.stdout);
});

Deno.test("a server that does not answer within --timeout: one clear line, exit 1", async () => {
  await using server = await hostileServer(() => null);
  const started = Date.now();
  const out = await server.client([...ALICE], ["--timeout", "1"]);
  const elapsed = Date.now() - started;
  assert.equal(out.code, 1);
  assert.deepEqual(lines(out.stderr), [
    "The server did not answer within 1 seconds (--timeout sets the limit)",
  ]);
  assert.equal(server.requests.length, 1, "the login was sent");
  assert.ok(elapsed >= 1000, `gave up after ${elapsed} ms`);
  assert.ok(elapsed < 10_000, `gave up only after ${elapsed} ms`);
});

Deno.test("a server that never finishes the TLS handshake is given up on after --timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  try {
    const certs = await testCerts();
    const out = await runProgram(
      "client",
      clientFlags(listener.addr.port, join(certs, "ca.crt"), "--timeout", "1"),
      { stdin: typed(ALICE) },
    );
    assert.equal(out.code, 1);
    assert.deepEqual(lines(out.stderr), [
      `The server at localhost:${listener.addr.port} did not complete the TLS handshake within 1 seconds`,
    ]);
    assert.equal(out.stdout, "");
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
  }
});
