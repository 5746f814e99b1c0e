/**
 * Lockout per election on PostgreSQL: the login throttle's ledger lives in
 * the election's database, so failed logins count the same whichever booth
 * they reach; counting is atomic across booths and the ledger stays bounded.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerChannel } from "../lib/client/voter_client.ts";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { generateKey } from "../lib/election/crypto.ts";
import { parseDatabaseUrl } from "../lib/store/postgres_connection.ts";
import {
  sealRoll,
  writeDatabaseElection,
} from "../lib/store/postgres_election.ts";
import { PostgresLockoutLedger } from "../lib/store/postgres_lockout_ledger.ts";
import type { ServerMessage } from "../lib/wire/protocol.ts";
import { ALICE, logIn, startServer } from "./helpers.ts";
import { tlsFrom } from "./peers.ts";
import {
  databaseFlags,
  runServerOk,
  tempDir,
  testDatabase,
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
  await using dir = await tempDir();
  const data = join(dir.path, "data");
  await runServerOk(["init", ...databaseFlags(db.url, data)]);
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

async function emptyElection(db: TestDatabase): Promise<void> {
  await writeDatabaseElection(db.sql, {
    candidates: ["Chris", "Jay"],
    voters: sealRoll(generateKey(), [{
      name: "Alice",
      number: "1123456",
      password: "1234",
    }]),
    voterCount: 1,
    totals: [0, 0],
    history: [],
    polls: {},
  }, { redacted: parseDatabaseUrl(db.url).redacted });
}

Deno.test("40 checks of one pair racing through two ledgers on one database admit exactly 5 password checks", async () => {
  await using db = await testDatabase();
  await emptyElection(db);
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
    const verdicts = await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) => throttles[i % 2].admit("192.0.2.1", "1123456"),
      ),
    );
    assert.equal(verdicts.filter((v) => v.verdict.allowed).length, 5);
    const [pair] = await db.sql`
      SELECT lockouts, locked_until FROM booth.lockout_pairs`;
    assert.equal(pair.lockouts, 1);
    assert.ok(Number(pair.locked_until) > Date.now());
  } finally {
    await other.end();
  }
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

Deno.test("the sweep keeps the ledger bounded: expired records go, then the least recently updated beyond the bound, locked ones last", async () => {
  await using db = await testDatabase();
  await emptyElection(db);
  let now = Date.UTC(2026, 0, 1);
  await using ledger = new PostgresLockoutLedger(db.sql, {
    sweepEveryMs: 0,
    maxPairs: 2,
    maxNumbers: 2,
    now: () => now,
  });
  const throttle = new LoginThrottle(ledger, {
    threshold: 1,
    clock: { now: () => now, setTimer: () => () => {} },
  });
  for (const address of ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) {
    now += 1000;
    await throttle.admit(address, "1123456");
  }
  for (const number of ["1000001", "1000002"]) {
    now += 1000;
    await throttle.admit("192.0.2.9", number);
  }
  await ledger.sweep();
  const pairs = await db.sql`
    SELECT address, number FROM booth.lockout_pairs ORDER BY address, number`;
  assert.deepEqual(
    pairs.map((row) => `${row.address} ${row.number}`),
    ["192.0.2.9 1000001", "192.0.2.9 1000002"],
    "the two most recently updated of the five locked pairs",
  );
  const numbers = await db.sql`
    SELECT number FROM booth.lockout_numbers ORDER BY number`;
  assert.deepEqual(numbers.map((row) => row.number), ["1000001", "1000002"]);
  now += 2 * 24 * 3600 * 1000;
  await ledger.sweep();
  const [{ count }] = await db.sql`
    SELECT (SELECT count(*) FROM booth.lockout_pairs) +
           (SELECT count(*) FROM booth.lockout_numbers) AS count`;
  assert.equal(Number(count), 0, "two days later every record has expired");
});
