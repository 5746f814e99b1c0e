/**
 * Lockout end to end on the real server over real TLS (issue 10, item 4):
 * failures count per (source address, registration number), and a number
 * gets at most 100 failed password checks in 24 hours from all addresses.
 */

import assert from "node:assert/strict";
import { ServerChannel } from "../lib/client/voter_client.ts";
import type { ServerMessage } from "../lib/wire/protocol.ts";
import {
  ALICE,
  eventually,
  initElection,
  logIn,
  startServer,
} from "./helpers.ts";
import { otherHosts, tlsFrom } from "./peers.ts";

const WRONG = ["Alice", "1123456", "0000"];

/** `count` wrong logins for Alice's number from `address`, 3 per connection. */
async function wrongLogins(
  port: number,
  address: string,
  count: number,
): Promise<ServerMessage[]> {
  const replies: ServerMessage[] = [];
  while (replies.length < count) {
    const connection = await tlsFrom(port, address);
    try {
      const channel = new ServerChannel(connection);
      for (let i = 0; i < 3 && replies.length < count; i++) {
        replies.push(await logIn(channel, WRONG));
      }
    } finally {
      connection.close();
    }
  }
  return replies;
}

const refusedWhileLocked = (reply: ServerMessage) =>
  reply.type === "login" && reply.answer === 0 &&
  reply.retryAfterSeconds !== undefined;

async function removeElection(dir: string): Promise<void> {
  await Deno.remove(dir.replace(/\/data$/, ""), { recursive: true });
}

Deno.test("60 wrong logins for Alice's number from 127.0.0.2 leave Alice at 127.0.0.1 able to log in at once", async () => {
  const data = await initElection();
  const server = await startServer(data);
  try {
    const replies = await wrongLogins(server.port, "127.0.0.2", 60);
    assert.equal(replies.length, 60);
    assert.equal(
      replies.filter((r) => !refusedWhileLocked(r)).length,
      5,
      "5 password checks, then the pair is locked",
    );
    assert.ok(
      replies.slice(5).every((r) =>
        r.type === "login" && r.answer === 0 &&
        r.retryAfterSeconds !== undefined && r.retryAfterSeconds <= 30
      ),
      "the other 55 were refused with the pair's 30 s",
    );
    const alice = await tlsFrom(server.port, "127.0.0.1");
    try {
      assert.deepEqual(await logIn(new ServerChannel(alice), ALICE), {
        type: "login",
        answer: 1,
        name: "Alice",
      });
    } finally {
      alice.close();
    }
  } finally {
    await server.stop();
    await removeElection(data);
  }
});

Deno.test("5 failures from each of 20 addresses lock the number for everyone, the right password included", async () => {
  const data = await initElection();
  const server = await startServer(data);
  try {
    const all = await Promise.all(
      otherHosts(20).map((host) => wrongLogins(server.port, host, 5)),
    );
    for (const replies of all) {
      assert.deepEqual(
        replies.map(refusedWhileLocked),
        [false, false, false, false, false],
        "every one of the 100 was a password check",
      );
    }
    for (const address of ["127.0.0.1", "127.0.0.22"]) {
      const alice = await tlsFrom(server.port, address);
      try {
        const reply = await logIn(new ServerChannel(alice), ALICE);
        assert.ok(
          reply.type === "login" && reply.answer === 0 &&
            reply.retryAfterSeconds! > 86_000,
          `${address}: ${JSON.stringify(reply)}`,
        );
      } finally {
        alice.close();
      }
    }
    await eventually(
      () =>
        server.stderr().includes(
          'lockout: registration number "1123456" locked for 86400 s for every address',
        ),
      "the lockout in the log",
    );
  } finally {
    await server.stop();
    await removeElection(data);
  }
});
