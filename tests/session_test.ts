/**
 * A connection's conversation and password guessing, in memory: the
 * session state machine against a real store, with a fake clock.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { VoterSession } from "../lib/server/session.ts";
import type { SessionEvent } from "../lib/server/session.ts";
import { createElection, ElectionStore } from "../lib/store/store.ts";

const SEED = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
];

async function openStore(): Promise<ElectionStore> {
  const dir = join(
    await Deno.makeTempDir({ prefix: "booth-session-" }),
    "data",
  );
  await createElection(dir, { voters: SEED, candidates: ["Chris", "Linda"] });
  return await ElectionStore.open(dir);
}

function harness(store: ElectionStore, threshold = 5) {
  let now = 1_000_000;
  const events: SessionEvent[] = [];
  const throttle = new LoginThrottle({ threshold, lockSeconds: 30 });
  return {
    events,
    advance: (seconds: number) => now += seconds * 1000,
    session: () =>
      new VoterSession(store, {
        throttle,
        nowMs: () => now,
        onEvent: (e) => events.push(e),
      }),
  };
}

const login = (name: string, number: string, password: string) =>
  ({ type: "login", version: 1, name, number, password }) as const;

Deno.test("five failures across connections lock the number; the right password is refused while locked", async () => {
  const store = await openStore();
  const { session, advance, events } = harness(store);
  for (const attempts of [3, 2]) {
    const connection = session();
    for (let i = 0; i < attempts; i++) {
      const step = await connection.handle(login("Alice", "1123456", "0000"));
      assert.equal(step.reply.type === "login" && step.reply.answer, 0);
    }
  }
  assert.ok(events.some((e) => e.kind === "lockout" && e.seconds === 30));
  const locked = await session().handle(login("Alice", "1123456", "1234"));
  assert.deepEqual(locked.reply, {
    type: "login",
    answer: 0,
    attemptsLeft: 2,
    retryAfterSeconds: 30,
  });

  const bob = await session().handle(login("Bob", "1138765", "5678"));
  assert.deepEqual(
    bob.reply,
    { type: "login", answer: 1, name: "Bob" },
    "another voter is unaffected",
  );

  advance(30);
  const after = await session().handle(login("Alice", "1123456", "1234"));
  assert.deepEqual(after.reply, { type: "login", answer: 1, name: "Alice" });
});

Deno.test("an unknown registration number gets the same answer and the same lockout", async () => {
  const store = await openStore();
  const { session } = harness(store);
  const known = session();
  const unknown = session();
  const a = await known.handle(login("Alice", "1123456", "9999"));
  const b = await unknown.handle(login("Mallory", "7777777", "9999"));
  assert.deepEqual(a.reply, b.reply);
  for (let i = 0; i < 4; i++) {
    await session().handle(login("Mallory", "7777777", "9999"));
  }
  const locked = await session().handle(login("Mallory", "7777777", "9999"));
  assert.deepEqual(locked.reply, {
    type: "login",
    answer: 0,
    attemptsLeft: 2,
    retryAfterSeconds: 30,
  });
});

Deno.test("lockouts double up to 15 minutes and a success resets them", () => {
  const throttle = new LoginThrottle({ threshold: 5, lockSeconds: 30 });
  let now = 0;
  const locks: number[] = [];
  for (let round = 0; round < 7; round++) {
    for (let i = 0; i < 5; i++) {
      const lock = throttle.recordFailure("1123456", now);
      if (lock > 0) locks.push(lock);
    }
    now += throttle.lockedFor("1123456", now) * 1000;
  }
  assert.deepEqual(locks, [30, 60, 120, 240, 480, 900, 900]);
  throttle.recordSuccess("1123456");
  assert.equal(throttle.lockedFor("1123456", now), 0);
  for (let i = 0; i < 4; i++) {
    assert.equal(throttle.recordFailure("1123456", now), 0);
  }
  assert.equal(
    throttle.recordFailure("1123456", now),
    30,
    "back to the first lock",
  );
});

Deno.test("the throttle forgets the oldest numbers rather than grow without bound", () => {
  const throttle = new LoginThrottle({ threshold: 5, maxTracked: 100 });
  for (let i = 0; i < 10_000; i++) throttle.recordFailure(String(i), 0);
  for (let i = 0; i < 4; i++) throttle.recordFailure("recent", 0);
  assert.equal(
    throttle.recordFailure("recent", 0),
    30,
    "recent numbers are still counted",
  );
});

Deno.test("a connection may try three logins, then it is closed", async () => {
  const store = await openStore();
  const { session } = harness(store, 100);
  const connection = session();
  const replies = [];
  for (let i = 0; i < 3; i++) {
    replies.push(await connection.handle(login("Alice", "1123456", "0")));
  }
  assert.deepEqual(replies.map((r) => [r.reply, r.close]), [
    [{ type: "login", answer: 0, attemptsLeft: 2 }, false],
    [{ type: "login", answer: 0, attemptsLeft: 1 }, false],
    [{ type: "login", answer: 0, attemptsLeft: 0 }, true],
  ]);
});

Deno.test("messages out of order close the connection and change nothing", async () => {
  const store = await openStore();
  const { session } = harness(store);
  const cases = [
    [{ type: "menu", choice: 1 }],
    [{ type: "ballot", choice: 1 }],
    [login("Alice", "1123456", "1234"), { type: "ballot", choice: 1 }],
    [login("Alice", "1123456", "1234"), login("Bob", "1138765", "5678")],
    [login("Alice", "1123456", "1234"), { type: "menu", choice: 1 }, {
      type: "menu",
      choice: 2,
    }],
    [login("Alice", "1123456", "1234"), { type: "menu", choice: 1 }, {
      type: "ballot",
      choice: 3,
    }],
  ] as const;
  for (const messages of cases) {
    const connection = session();
    let last;
    for (const message of messages) last = await connection.handle(message);
    assert.equal(last!.reply.type, "error", JSON.stringify(messages));
    assert.equal(last!.close, true);
  }
  assert.equal(store.election.votesCast, 0);
});

Deno.test("a session's menu: vote, already voted, history, result, exit", async () => {
  const store = await openStore();
  const connection = harness(store).session();
  await connection.handle(login("Bob", "1138765", "5678"));
  assert.deepEqual(
    (await connection.handle({ type: "menu", choice: 3 })).reply,
    { type: "history", answer: 0 },
  );
  assert.deepEqual(
    (await connection.handle({ type: "menu", choice: 1 })).reply,
    { type: "vote", answer: 1, candidates: ["Chris", "Linda"] },
  );
  assert.deepEqual(
    (await connection.handle({ type: "ballot", choice: 2 })).reply,
    { type: "ballot", answer: 1 },
  );
  assert.deepEqual(
    (await connection.handle({ type: "menu", choice: 1 })).reply,
    { type: "vote", answer: 0 },
  );
  assert.deepEqual(
    (await connection.handle({ type: "menu", choice: 2 })).reply,
    { type: "result", answer: 0 },
  );
  const history = (await connection.handle({ type: "menu", choice: 3 })).reply;
  assert.ok(
    history.type === "history" && history.answer === 1 &&
      history.entry.startsWith("Bob "),
  );
  assert.deepEqual(await connection.handle({ type: "menu", choice: 4 }), {
    reply: { type: "bye" },
    close: true,
  });
});
