/**
 * Lockout per election on PostgreSQL: the login throttle's ledger lives in
 * the election's database, so failed logins count the same whichever booth
 * they reach; counting is atomic across booths and the ledger stays bounded.
 */

import assert from "node:assert/strict";
import { ServerChannel } from "../lib/client/voter_client.ts";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { VoterSession } from "../lib/server/session.ts";
import { PasswordVerifier } from "../lib/election/booth.ts";
import type {
  CheckVerdict,
  LockoutPolicy,
} from "../lib/election/lockout_rules.ts";
import { parseDatabaseUrl } from "../lib/store/postgres_connection.ts";
import { PostgresLockoutLedger } from "../lib/store/postgres_lockout_ledger.ts";
import { PostgresStore } from "../lib/store/postgres_store.ts";
import type { ServerMessage } from "../lib/wire/protocol.ts";
import { ALICE, logIn, startServer } from "./helpers.ts";
import { FakeClock } from "./fake_clock.ts";
import { tlsFrom } from "./peers.ts";
import {
  initDatabaseElection,
  testDatabase,
  writeElectionInto,
} from "./postgres_helpers.ts";
import type { TestDatabase } from "./postgres_helpers.ts";

const WRONG = ["Alice", "1123456", "0000"];

async function loginFrom(
  port: number,
  address: string,
  credentials: string[],
): Promise<ServerMessage> {
  const connection = await tlsFrom(port, address);
  try {
    return await logIn(new ServerChannel(connection), credentials);
  } finally {
    connection.close();
  }
}

const lockedOut = (reply: ServerMessage) =>
  reply.type === "login" && reply.answer === 0 &&
  reply.retryAfterSeconds !== undefined;

Deno.test("5 wrong logins from one address alternating between two booths of one database lock that pair on both; the right password from another address still works", async () => {
  await using db = await testDatabase();
  const data = await initDatabaseElection(db);
  const booths = [
    await startServer(data, ["--database", db.url, "--quiet"]),
    await startServer(data, ["--database", db.url, "--quiet"]),
  ];
  try {
    const [first, second] = booths.map((booth) => booth.port);
    const replies: ServerMessage[] = [];
    for (let i = 0; i < 5; i++) {
      replies.push(
        await loginFrom(i % 2 === 0 ? first : second, "127.0.0.2", WRONG),
      );
    }
    assert.deepEqual(
      replies.map(lockedOut),
      [false, false, false, false, false],
      "5 password checks, 3 on one booth and 2 on the other",
    );
    for (const port of [first, second]) {
      const reply = await loginFrom(port, "127.0.0.2", ALICE);
      assert.ok(
        reply.type === "login" && reply.answer === 0 &&
          reply.retryAfterSeconds !== undefined &&
          reply.retryAfterSeconds <= 30,
        `the pair is locked on the booth at port ${port}, the right password included: ${
          JSON.stringify(reply)
        }`,
      );
      assert.deepEqual(await loginFrom(port, "127.0.0.1", ALICE), {
        type: "login",
        answer: 1,
        name: "Alice",
      });
    }
  } finally {
    for (const booth of booths) await booth.stop();
  }
});

/** Alice alone on the roll, no vote cast: the election the ledgers guard. */
function emptyElection(db: TestDatabase): Promise<Uint8Array> {
  return writeElectionInto(db, {
    voters: [{ name: "Alice", number: "1123456", password: "1234" }],
    candidates: ["Chris", "Jay"],
  });
}

/**
 * `count` checks of Alice's number at once, alternating between two
 * throttles on one database through two pools, as two booths have.
 *
 * @param address The address of the `i`th check.
 * @returns Each check's verdict, in the order they were asked.
 */
async function racingChecks(
  db: TestDatabase,
  count: number,
  address: (i: number) => string,
): Promise<CheckVerdict[]> {
  const other = (await import("postgres")).default(db.url, {
    max: 5,
    onnotice: () => {},
  });
  try {
    await using firstLedger = new PostgresLockoutLedger(db.sql, {
      sweepEveryMs: 0,
    });
    await using secondLedger = new PostgresLockoutLedger(other, {
      sweepEveryMs: 0,
    });
    const throttles = [
      new LoginThrottle(firstLedger),
      new LoginThrottle(secondLedger),
    ];
    const admissions = await Promise.all(
      Array.from(
        { length: count },
        (_, i) => throttles[i % 2].admit(address(i), "1123456"),
      ),
    );
    return admissions.map((admission) => admission.verdict);
  } finally {
    await other.end();
  }
}

Deno.test("40 checks of one pair racing through two ledgers on one database admit exactly 5 password checks", async () => {
  await using db = await testDatabase();
  await emptyElection(db);
  const verdicts = await racingChecks(db, 40, () => "192.0.2.1");
  assert.equal(verdicts.filter((v) => v.allowed).length, 5);
  const [pair] = await db.sql`
    SELECT lockouts, locked_until FROM booth.lockout_pairs`;
  assert.equal(pair.lockouts, 1);
  assert.ok(Number(pair.locked_until) > Date.now());
});

Deno.test("150 checks of one number from 50 addresses racing through two ledgers admit exactly 100 password checks, then the number is locked for everyone", async () => {
  await using db = await testDatabase();
  await emptyElection(db);
  // 3 checks per address: no pair reaches its own limit of 5.
  const verdicts = await racingChecks(db, 150, (i) => `192.0.2.${i % 50}`);
  assert.equal(verdicts.filter((v) => v.allowed).length, 100);
  const refusals = verdicts.flatMap((v) => v.allowed ? [] : [v.lock.scope]);
  assert.deepEqual(new Set(refusals), new Set(["everyone"]));
  const [number] = await db.sql`
    SELECT cardinality(failure_times) AS n FROM booth.lockout_numbers`;
  assert.equal(number.n, 100);
});

Deno.test("a right password undoes its check, sent after the answer: the pair's row is gone, the number keeps the wrong check", async () => {
  await using db = await testDatabase();
  await emptyElection(db);
  await using ledger = new PostgresLockoutLedger(db.sql, { sweepEveryMs: 0 });
  const throttle = new LoginThrottle(ledger);
  const wrong = (await throttle.admit("192.0.2.1", "1123456")).verdict;
  assert.ok(wrong.allowed);
  const right = (await throttle.admit("192.0.2.1", "1123456")).verdict;
  assert.ok(right.allowed);
  const [before] = await db.sql`
    SELECT cardinality(failure_times) AS n FROM booth.lockout_numbers`;
  assert.equal(before.n, 2);
  throttle.recordSuccess("192.0.2.1", "1123456", right.at);
  await ledger.flush();
  assert.deepEqual(
    [...await db.sql`SELECT number FROM booth.lockout_pairs`],
    [],
    "a success resets the pair",
  );
  const [after] = await db.sql`
    SELECT cardinality(failure_times) AS n FROM booth.lockout_numbers`;
  assert.equal(after.n, 1, "the wrong check still counts for the number");
});

/**
 * A ledger on `db`'s empty election, swept only when the test says, on a fake
 * clock, with its throttle; disposed with the ledger.
 */
async function sweptLedger(
  db: TestDatabase,
  bounds: { maxPairs?: number; maxNumbers?: number },
  policy: Partial<LockoutPolicy>,
) {
  await emptyElection(db);
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const ledger = new PostgresLockoutLedger(db.sql, {
    sweepEveryMs: 0,
    ...bounds,
    now: clock.now,
  });
  const throttle = new LoginThrottle(ledger, { clock, ...policy });
  return {
    ledger,
    clock,
    /** Checks `number` from `address`, `ms` after the check before. */
    async check(address: string, number: string, ms = 1000) {
      clock.advance(ms);
      return (await throttle.admit(address, number)).verdict;
    },
    /** The rows' keys of a ledger table, sorted. */
    async keys(table: "pairs" | "numbers"): Promise<string[]> {
      const rows = table === "pairs"
        ? await db.sql`SELECT address || ' ' || number AS key
            FROM booth.lockout_pairs ORDER BY key`
        : await db.sql`SELECT number AS key
            FROM booth.lockout_numbers ORDER BY key`;
      return rows.map((row) => row.key);
    },
    [Symbol.asyncDispose]: () => ledger.close(),
  };
}

Deno.test("the sweep keeps the ledger bounded: expired records go, then beyond the bound those standing for the fewest failures, the least recently updated first", async () => {
  await using db = await testDatabase();
  await using swept = await sweptLedger(db, { maxPairs: 2, maxNumbers: 2 }, {
    threshold: 1,
  });
  for (const address of ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) {
    await swept.check(address, "1123456");
  }
  for (const number of ["1000001", "1000002"]) {
    await swept.check("192.0.2.9", number);
  }
  await swept.ledger.sweep();
  assert.deepEqual(
    await swept.keys("pairs"),
    ["192.0.2.9 1000001", "192.0.2.9 1000002"],
    "the two most recently updated of the five pairs locked once",
  );
  assert.deepEqual(
    await swept.keys("numbers"),
    ["1000002", "1123456"],
    "the number with three failures, then the newer of those with one",
  );
  swept.clock.advance(2 * 24 * 3600 * 1000);
  await swept.ledger.sweep();
  assert.deepEqual(
    [...await swept.keys("pairs"), ...await swept.keys("numbers")],
    [],
    "two days later every record has expired",
  );
});

Deno.test("the sweep keeps a pair locked twice over newer junk pairs of its address, and a locked number over junk numbers", async () => {
  await using db = await testDatabase();
  await using swept = await sweptLedger(db, { maxPairs: 1, maxNumbers: 1 }, {
    threshold: 1,
    windowLimit: 2,
  });
  for (let lock = 0; lock < 2; lock++) {
    assert.ok((await swept.check("192.0.2.1", "1123456", 3600_000)).allowed);
  }
  for (let i = 0; i < 5; i++) await swept.check("192.0.2.1", `900000${i}`);
  await swept.ledger.sweep();
  const [pair] = await db.sql`
    SELECT number, lockouts FROM booth.lockout_pairs`;
  assert.deepEqual({ ...pair }, { number: "1123456", lockouts: 2 });
  assert.deepEqual(await swept.keys("numbers"), ["1123456"]);
  const verdict = await swept.check("192.0.2.2", "1123456");
  assert.equal(verdict.allowed, false, "still locked for everyone");
});

Deno.test("the sweep never deletes a number locked for everyone, even beyond the bound", async () => {
  await using db = await testDatabase();
  await using swept = await sweptLedger(db, { maxNumbers: 1 }, {
    threshold: 10,
    windowLimit: 2,
  });
  for (
    const number of ["1000001", "1000002", "1000002", "1000001", "1000003"]
  ) {
    await swept.check("192.0.2.1", number);
  }
  await swept.ledger.sweep();
  assert.deepEqual(await swept.keys("numbers"), ["1000001", "1000002"]);
});

Deno.test("a login on PostgreSQL sends one statement before its answer, right or wrong password; a success's clear follows the answer, sent at the latest when the ledger closes", async () => {
  await using db = await testDatabase();
  const key = await emptyElection(db);
  const sent: string[] = [];
  await using store = await PostgresStore.open(parseDatabaseUrl(db.url), {
    // The heartbeat (booth.servers) runs on its own timer: not the login's.
    onStatement: (text) => {
      if (!text.includes("booth.servers")) sent.push(text);
    },
  });
  await using ledger = store.lockoutLedger({ sweepEveryMs: 0 });
  const throttle = new LoginThrottle(ledger);
  const logIn = async (password: string) => {
    const session = new VoterSession(store, {
      verifier: new PasswordVerifier(key),
      throttle,
      address: "192.0.2.1",
    });
    const before = sent.length;
    const step = await session.handle({
      type: "login",
      version: 1,
      name: "Alice",
      number: "1123456",
      password,
    });
    return { reply: step.reply, statements: sent.length - before };
  };
  assert.deepEqual(await logIn("0000"), {
    reply: { type: "login", answer: 0, attemptsLeft: 2 },
    statements: 1,
  });
  assert.deepEqual(await logIn("1234"), {
    reply: { type: "login", answer: 1, name: "Alice" },
    statements: 1,
  });
  const before = sent.length;
  await ledger.close();
  assert.equal(
    sent.length - before,
    1,
    "closing the ledger sent the queued clear, one statement",
  );
  assert.deepEqual(
    [...await db.sql`SELECT number FROM booth.lockout_pairs`],
    [],
    "the success reset the pair",
  );
});
