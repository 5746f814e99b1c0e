/**
 * A connection's time limits and back-pressure, on fake time over in-memory
 * pipes: the login grace, the idle timeout, and a peer that writes without
 * reading its replies.
 */

import assert from "node:assert/strict";
import { serveConnection } from "../lib/server/booth_server.ts";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { MemoryLockoutLedger } from "../lib/store/lockout_ledger.ts";
import type { LockoutLedger } from "../lib/store/lockout_ledger.ts";
import { MAX_UNSENT_BYTES } from "../lib/wire/connection.ts";
import { FakeClock } from "./fake_clock.ts";
import { memoryPipe } from "./memory_pipe.ts";
import {
  ALICE_LOGIN,
  aliceElection,
  frame,
  messageReader,
} from "./sessions.ts";

/** An election, a server-side connection on fake time, and its client end. */
async function serving(
  options: {
    capacity?: number;
    requestsPerSecond?: number;
    ledger?: LockoutLedger;
  } = {},
) {
  const election = await aliceElection("booth-server-");
  const clock = new FakeClock();
  const throttle = new LoginThrottle(
    options.ledger ?? new MemoryLockoutLedger(),
    { clock },
  );
  const [client, server] = memoryPipe({
    openedAt: clock.now(),
    capacity: options.capacity,
  });
  const log: string[] = [];
  let ended = false;
  const done = serveConnection(server, election.store, throttle, {
    loginGraceSeconds: 60,
    idleTimeoutSeconds: 300,
    log: (_peer, event) => log.push(event),
    verifier: election.verifier,
    clock,
    requestsPerSecond: options.requestsPerSecond,
  }).finally(() => ended = true);
  const receive = messageReader(client);
  return {
    client,
    server,
    clock,
    log,
    done,
    receive,
    ended: () => ended,
    /** Logs Alice in and takes the server's yes. */
    async logIn() {
      await client.write(frame(ALICE_LOGIN));
      assert.equal((await receive())?.type, "login");
    },
    async [Symbol.asyncDispose]() {
      client.close();
      await done;
      await election[Symbol.asyncDispose]();
    },
  };
}

/** Lets every pending promise and I/O callback run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Advances the fake clock by `ms`, checking that the connection is still
 * open 1 ms before the end.
 */
async function openUntil(
  s: { clock: FakeClock; ended(): boolean },
  ms: number,
  why: string,
): Promise<void> {
  s.clock.advance(ms - 1);
  await settle();
  assert.equal(s.ended(), false, why);
  s.clock.advance(1);
}

Deno.test("a connection that has not logged in is closed when the login grace ends, not before", async () => {
  await using s = await serving();
  await openUntil(s, 60_000, "still open 1 ms before the grace ends");
  assert.deepEqual(await s.receive(), {
    type: "error",
    code: "login-timeout",
    message: "No login within 60 seconds; connection closed",
  });
  assert.equal(await s.receive(), null);
  await s.done;
  assert.ok(s.log.includes("connection closed (No login within 60 seconds)"));
});

Deno.test("a login still being checked when the grace ends gets its answer, not login-timeout", async () => {
  // A ledger (a database) that holds the login's check until released.
  const memory = new MemoryLockoutLedger();
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const held: LockoutLedger = {
    async admit(...args) {
      entered.resolve();
      await release.promise;
      return memory.admit(...args);
    },
    clear: (...args) => memory.clear(...args),
    close: () => memory.close(),
    [Symbol.asyncDispose]: () => memory.close(),
  };
  await using s = await serving({ ledger: held });
  s.clock.advance(59_999);
  await s.client.write(frame(ALICE_LOGIN));
  await entered.promise;
  s.clock.advance(1);
  await settle();
  release.resolve();
  const answer = await s.receive();
  assert.equal(answer?.type, "login");
  assert.equal((answer as { answer: number }).answer, 1);
  assert.ok(!s.log.some((line) => line.includes("No login within")));
});

Deno.test("a logged-in session is closed after the idle timeout, counted from its last request", async () => {
  await using s = await serving();
  await s.logIn();
  s.clock.advance(299_000);
  await s.client.write(frame({ type: "menu", choice: 3 }));
  assert.deepEqual(await s.receive(), { type: "history", answer: 0 });
  await openUntil(s, 300_000, "the request pushed the deadline back");
  assert.deepEqual(await s.receive(), {
    type: "error",
    code: "idle-timeout",
    message: "Idle for 300 seconds; connection closed",
  });
  await s.done;
});

Deno.test("a peer that does not read its replies stops being read past 64 KiB unsent, and is closed at the idle timeout", async () => {
  // 16 KiB each way stands for the TCP window.
  await using s = await serving({
    capacity: 16 * 1024,
    requestsPerSecond: Infinity,
  });
  await s.logIn();
  const request = frame({ type: "menu", choice: 3 });
  const total = 100_000;
  let written = 0;
  const writing = (async () => {
    for (; written < total; written++) await s.client.write(request);
  })().catch(() => {});
  while (s.server.unsentBytes + request.length <= MAX_UNSENT_BYTES) {
    await settle();
  }
  const stalledAt = written;
  for (let i = 0; i < 50; i++) await settle();
  assert.ok(
    s.server.unsentBytes <= MAX_UNSENT_BYTES,
    `${s.server.unsentBytes} bytes unsent`,
  );
  assert.equal(written, stalledAt, "the server stopped reading requests");
  assert.ok(written < total / 10, `${written} requests taken`);
  s.clock.advance(300_000);
  await s.done;
  await writing;
  assert.ok(s.log.includes("connection closed (Idle for 300 seconds)"));
});

Deno.test("a connection is read at most 32 requests a second after a burst of 64", async () => {
  await using s = await serving();
  await s.logIn();
  const request = frame({ type: "menu", choice: 3 });
  for (let i = 0; i < 200; i++) await s.client.write(request);
  let answered = 0;
  const counting = (async () => {
    while ((await s.receive())?.type === "history") answered++;
  })();
  const answeredAfter = async (ms: number) => {
    s.clock.advance(ms);
    for (let i = 0; i < 20; i++) await settle();
    return answered;
  };
  assert.equal(await answeredAfter(0), 63, "the burst, less the login");
  assert.equal(await answeredAfter(1000), 63 + 32);
  assert.equal(await answeredAfter(2000), 63 + 96);
  s.client.close();
  await counting;
  s.clock.advance(10_000); // the paced requests left are answered into the void
});
