/**
 * A connection's conversation and password guessing, in memory: the
 * session state machine against a real file store, with a fake clock.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { PasswordVerifier } from "../lib/election/booth.ts";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { MemoryLockoutLedger } from "../lib/store/lockout_ledger.ts";
import { VoterSession } from "../lib/server/session.ts";
import type { SessionEvent } from "../lib/server/session.ts";
import { createElection } from "../lib/store/create_election.ts";
import { readElectionKey } from "../lib/store/election_state.ts";
import { denoFileOps } from "../lib/store/file_ops.ts";
import type { FileOps } from "../lib/store/file_ops.ts";
import { FileBoothStore } from "../lib/store/file_store.ts";
import { tempDir } from "./temp_dir.ts";

const SEED = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
];

/** An election in a temporary directory, its store open; disposal closes both. */
async function openElection(ops?: FileOps) {
  const temp = await tempDir("booth-session-");
  const dir = join(temp.path, "data");
  await createElection(dir, { voters: SEED, candidates: ["Chris", "Linda"] });
  const store = await FileBoothStore.open(dir, { ops });
  return {
    store,
    verifier: new PasswordVerifier(await readElectionKey(dir)),
    async [Symbol.asyncDispose]() {
      await store.close();
      await temp[Symbol.asyncDispose]();
    },
  };
}

function harness(
  election: { store: FileBoothStore; verifier: PasswordVerifier },
  threshold = 5,
) {
  let now = 1_000_000;
  const events: SessionEvent[] = [];
  const clock = { now: () => now, setTimer: () => () => {} };
  const throttle = new LoginThrottle(new MemoryLockoutLedger(), {
    threshold,
    lockSeconds: 30,
    clock,
  });
  return {
    events,
    advance: (seconds: number) => now += seconds * 1000,
    session: (address = "127.0.0.1") =>
      new VoterSession(election.store, {
        verifier: election.verifier,
        throttle,
        address,
        onEvent: (e) => events.push(e),
      }),
  };
}

/** Menu choice 1 shows the ballot, and the ballot is recorded. */
async function voteRecorded(connection: VoterSession, choice: number) {
  assert.deepEqual(
    (await connection.handle({ type: "menu", choice: 1 })).reply,
    { type: "vote", answer: 1, candidates: ["Chris", "Linda"] },
  );
  assert.deepEqual(
    (await connection.handle({ type: "ballot", choice })).reply,
    { type: "ballot", answer: 1 },
  );
}

const login = (name: string, number: string, password: string) =>
  ({ type: "login", version: 1, name, number, password }) as const;

Deno.test("five failures across connections lock the number; the right password is refused while locked", async () => {
  await using election = await openElection();
  const { session, advance, events } = harness(election);
  for (const attempts of [3, 2]) {
    const connection = session();
    for (let i = 0; i < attempts; i++) {
      const step = await connection.handle(login("Alice", "1123456", "0000"));
      assert.equal(step.reply.type === "login" && step.reply.answer, 0);
    }
  }
  assert.ok(
    events.some((e) =>
      e.kind === "lockout" && e.lock.seconds === 30 &&
      e.lock.scope === "address"
    ),
  );
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
  await using election = await openElection();
  const { session } = harness(election);
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

Deno.test("a connection may try three logins, then it is closed", async () => {
  await using election = await openElection();
  const { session } = harness(election, 100);
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
  await using election = await openElection();
  const { session } = harness(election);
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
  assert.equal((await election.store.tally()).voted, 0);
});

Deno.test("a session's menu: vote, already voted, history, result, exit", async () => {
  await using election = await openElection();
  const connection = harness(election).session();
  await connection.handle(login("Bob", "1138765", "5678"));
  assert.deepEqual(
    (await connection.handle({ type: "menu", choice: 3 })).reply,
    { type: "history", answer: 0 },
  );
  await voteRecorded(connection, 2);
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

Deno.test("racing sessions of one voter: one ballot is recorded, the other answered already-voted", async () => {
  await using election = await openElection();
  const { session, events } = harness(election);
  const [first, second] = [session(), session()];
  for (const connection of [first, second]) {
    await connection.handle(login("Alice", "1123456", "1234"));
    assert.deepEqual(
      (await connection.handle({ type: "menu", choice: 1 })).reply,
      { type: "vote", answer: 1, candidates: ["Chris", "Linda"] },
    );
  }
  const replies = await Promise.all([
    first.handle({ type: "ballot", choice: 1 }),
    second.handle({ type: "ballot", choice: 2 }),
  ]);
  assert.deepEqual(replies, [
    { reply: { type: "ballot", answer: 1 }, close: false },
    {
      reply: { type: "ballot", answer: 0, reason: "already-voted" },
      close: false,
    },
  ]);
  assert.deepEqual(
    events.filter((e) => e.kind.startsWith("vote-")),
    [
      { kind: "vote-recorded", voter: "Alice" },
      { kind: "vote-refused", voter: "Alice", reason: "already-voted" },
    ],
  );
  assert.deepEqual((await election.store.tally()).totals, [1, 0]);
});

Deno.test("a vote the disk refuses is answered storage, and the voter may try again", async () => {
  const real = denoFileOps();
  let diskFull = true;
  await using election = await openElection({
    ...real,
    append: (path, text) => {
      if (diskFull) throw new Error("No space left on device (os error 28)");
      real.append(path, text);
    },
  });
  const connection = harness(election).session();
  await connection.handle(login("Bob", "1138765", "5678"));
  await connection.handle({ type: "menu", choice: 1 });
  assert.deepEqual(await connection.handle({ type: "ballot", choice: 2 }), {
    reply: { type: "ballot", answer: 0, reason: "storage" },
    close: false,
  });
  diskFull = false;
  await voteRecorded(connection, 2);
});

Deno.test("a choice off the ballot ends the session as a protocol error and records nothing", async () => {
  await using election = await openElection();
  const { session, events } = harness(election);
  const connection = session();
  await connection.handle(login("Bob", "1138765", "5678"));
  await connection.handle({ type: "menu", choice: 1 });
  assert.deepEqual(await connection.handle({ type: "ballot", choice: 3 }), {
    reply: {
      type: "error",
      code: "protocol",
      message: "Ballot choice 3 is not on the ballot of 2",
    },
    close: true,
  });
  assert.deepEqual(events.at(-1), {
    kind: "protocol-error",
    detail: "Ballot choice 3 is not on the ballot of 2",
  });
  assert.equal(await election.store.hasVoted("Bob"), false);
});
