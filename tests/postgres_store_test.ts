/**
 * The PostgreSQL store against a real server: one vote per voter however
 * many booths race, both rows of a vote or neither, and a schema in which
 * nothing links a voter to a choice.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseDatabaseUrl } from "../lib/store/postgres_connection.ts";
import { PostgresStore } from "../lib/store/postgres_store.ts";
import { StorageError } from "../lib/store/booth_store.ts";
import {
  initDatabaseElection,
  runServerOk,
  testDatabase,
  writeElectionInto,
} from "./postgres_helpers.ts";
import type { TestDatabase } from "./postgres_helpers.ts";
import { storeContract } from "./store_contract.ts";
import { closePolls } from "../lib/store/officials.ts";
import { databasePollsKeeper } from "../lib/store/postgres_officials.ts";

storeContract("PostgreSQL store", async (election, owned) => {
  const db = owned.use(await testDatabase());
  const target = parseDatabaseUrl(db.url);
  const key = await writeElectionInto(db, election);
  return {
    store: await PostgresStore.open(target),
    key,
    reopen: () => PostgresStore.open(target),
    closePolls: async (at) => {
      await closePolls(databasePollsKeeper(db.sql, target.redacted), at, at);
    },
  };
});

async function rollOf(count: number, dir: string): Promise<string> {
  const path = join(dir, "roll");
  const roll = Array.from(
    { length: count },
    (_, i) => `voter${i} ${2_000_000 + i} pw${i}`,
  );
  await Deno.writeTextFile(path, roll.join("\n") + "\n");
  return path;
}

Deno.test("three booths racing 50 voters, three ballots each, record exactly one vote per voter", async () => {
  await using db = await testDatabase();
  await initDatabaseElection(db, "--voters", await rollOf(50, db.dir));
  const target = parseDatabaseUrl(db.url);
  await using a = await PostgresStore.open(target);
  await using b = await PostgresStore.open(target);
  await using c = await PostgresStore.open(target);
  const booths = [a, b, c];
  const outcomes = await Promise.all(
    Array.from({ length: 50 }, (_, voter) =>
      Promise.all(
        booths.map((booth, i) =>
          booth.recordBallot(`voter${voter}`, 1 + ((voter + i) % 2))
        ),
      )),
  );
  for (const [voter, three] of outcomes.entries()) {
    const kinds = three.map((outcome) => outcome.kind).sort();
    assert.deepEqual(
      kinds,
      ["already-voted", "already-voted", "recorded"],
      `voter${voter}`,
    );
  }
  const tally = await a.tally();
  assert.equal(tally.voted, 50);
  assert.equal(tally.totals[0] + tally.totals[1], 50);
  const [{ count }] = await db.sql`SELECT count(*)::int FROM booth.history`;
  assert.equal(count, 50);
  assert.equal(await b.hasVoted("voter7"), true);
  assert.equal((await c.voteOf("voter7"))?.voter, "voter7");
});

Deno.test("a ballot off the ballot writes nothing, and a booth sees votes cast on another", async () => {
  await using db = await testDatabase();
  await initDatabaseElection(db);
  const target = parseDatabaseUrl(db.url);
  await using a = await PostgresStore.open(target);
  await using b = await PostgresStore.open(target);
  assert.deepEqual(a.candidates, ["Chris", "Linda"]);
  assert.deepEqual(await a.recordBallot("Alice", 3), { kind: "not-on-ballot" });
  assert.deepEqual(await a.recordBallot("Alice", 0), { kind: "not-on-ballot" });
  assert.equal(await b.hasVoted("Alice"), false);
  const recorded = await a.recordBallot("Alice", 2);
  assert.equal(recorded.kind, "recorded");
  assert.equal(await b.hasVoted("Alice"), true);
  assert.deepEqual(await b.recordBallot("Alice", 1), { kind: "already-voted" });
  assert.deepEqual(await b.tally(), {
    registered: 3,
    voted: 1,
    totals: [0, 1],
  });
  const [row] = await db.sql`SELECT time FROM booth.history`;
  assert.deepEqual(recorded.record, {
    voter: "Alice",
    time: new Date(row.time),
  });
  assert.equal((await b.findVoter("1123456"))?.name, "Alice");
  assert.equal(await b.findVoter("0000000"), undefined);
});

Deno.test("no table or column links a voter to a choice: tally holds counts, history who and when", async () => {
  await using db = await testDatabase();
  await initDatabaseElection(db);
  const columns = await db.sql`
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = 'booth' ORDER BY table_name, ordinal_position`;
  const byTable = new Map<string, string[]>();
  for (const { table_name, column_name } of columns) {
    byTable.set(table_name, [...byTable.get(table_name) ?? [], column_name]);
  }
  const voterish = /voter|name|number/;
  const choiceish = /candidate|choice/;
  for (const [table, names] of byTable) {
    if (table === "candidates" || table.startsWith("audit_result")) continue;
    assert.ok(
      !(names.some((n) => voterish.test(n)) &&
        names.some((n) => choiceish.test(n))),
      `${table} has ${names.join(", ")}`,
    );
  }
  assert.deepEqual(byTable.get("tally"), ["candidate", "shard", "votes"]);
  assert.deepEqual(byTable.get("history"), ["voter", "time", "seq"]);
  assert.deepEqual(byTable.get("audit_history"), ["voter", "time"]);
});

Deno.test("a store whose database is gone throws StorageError, and the database's URL is named without its password", async () => {
  await using db = await testDatabase();
  await initDatabaseElection(db);
  const closed = new URL(db.url);
  closed.port = "1";
  await assert.rejects(
    () => PostgresStore.open(parseDatabaseUrl(closed.href)),
    (error: Error) => {
      assert.ok(error instanceof StorageError);
      assert.match(
        error.message,
        /^Cannot open the election in the database "postgres:\/\/booth@127\.0\.0\.1:1\/.*": connection refused$/,
      );
      assert.ok(!error.message.includes(db.password));
      return true;
    },
  );
});

/** Alice and Bob may vote for Chris or Linda; the polls never close. */
async function seedElection(db: TestDatabase): Promise<void> {
  await writeElectionInto(db, {
    voters: [
      { name: "Alice", number: "1123456", password: "1234" },
      { name: "Bob", number: "1138765", password: "5678" },
    ],
    candidates: ["Chris", "Linda"],
  });
}

/** A booth's clock `skewMs` off the real time (negative: behind). */
function skewedClock(skewMs: number): () => Date {
  return () => new Date(Date.now() + skewMs);
}

Deno.test("a booth whose clock runs a minute slow counts no ballot once server close --database has returned, and stamps history with the database's time", async () => {
  await using db = await testDatabase();
  await initDatabaseElection(db);
  const target = parseDatabaseUrl(db.url);
  await using slow = await PostgresStore.open(target, {
    now: skewedClock(-60_000),
  });
  const recorded = await slow.recordBallot("Alice", 1);
  assert.equal(recorded.kind, "recorded");
  const [{ time, now }] = await db.sql`
    SELECT time, now() AS now FROM booth.history WHERE voter = 'Alice'`;
  const late = now.getTime() - Date.parse(time);
  assert.ok(late >= 0 && late < 30_000, `stamped ${time}, now ${now}`);
  await runServerOk([
    "close",
    ...db.flags(join(db.dir, "data")),
  ]);
  assert.deepEqual(await slow.recordBallot("Bob", 2), {
    kind: "polls-closed",
  });
  assert.equal((await slow.tally()).voted, 1);
});

Deno.test("a booth whose clock runs an hour fast offers no ballot and counts none before the opening", async () => {
  await using db = await testDatabase();
  const [{ now }] = await db.sql`SELECT now()`;
  const opensAt = new Date(now.getTime() + 30 * 60_000);
  await writeElectionInto(db, {
    voters: [{ name: "Alice", number: "1123456", password: "1234" }],
    candidates: ["Chris", "Linda"],
    polls: { opensAt },
  });
  await using fast = await PostgresStore.open(parseDatabaseUrl(db.url), {
    now: skewedClock(3_600_000),
  });
  const window = await fast.pollsWindow();
  assert.ok(
    window.opensAt!.getTime() > Date.now() + 3_600_000,
    "the opening, on the booth's clock, is still ahead of it",
  );
  assert.deepEqual(await fast.recordBallot("Alice", 1), {
    kind: "polls-not-open",
  });
  assert.equal((await fast.tally()).voted, 0);
});

Deno.test("a ballot racing a closing not yet committed waits for it and is judged by the new closing time", async () => {
  await using db = await testDatabase();
  await seedElection(db);
  const target = parseDatabaseUrl(db.url);
  await using store = await PostgresStore.open(target);
  assert.deepEqual(await store.pollsWindow(), {});
  const closing = Promise.withResolvers<void>();
  const updated = Promise.withResolvers<void>();
  const closer = db.sql.begin(async (tx) => {
    await tx`UPDATE booth.election SET closes_at = now() - interval '1 second'`;
    updated.resolve();
    await closing.promise;
  });
  await updated.promise;
  const ballot = store.recordBallot("Bob", 2);
  try {
    // Released only once the ballot's statement waits on the election row.
    for (const deadline = Date.now() + 10_000;;) {
      assert.ok(
        Date.now() < deadline,
        "the ballot never waited for the closing",
      );
      const [{ waiting }] = await db.sql`
        SELECT count(*)::int AS waiting FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`;
      if (waiting === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    closing.resolve();
    await closer;
  }
  assert.deepEqual(await ballot, { kind: "polls-closed" });
  assert.equal((await store.tally()).voted, 0);
});
