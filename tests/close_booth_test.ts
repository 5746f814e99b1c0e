/**
 * How a booth stops (`closeBooth`, which `server serve` calls on SIGINT or
 * SIGTERM): the server, then the lockout ledger, then the store, so that the
 * clears of the last successes, which the PostgreSQL ledger sends over the
 * store's pool, reach the database before that pool ends.
 */

import assert from "node:assert/strict";
import type postgres from "postgres";
import { DEFAULT_LOCKOUT_POLICY } from "../lib/election/lockout_rules.ts";
import { closeBooth } from "../lib/server/close_booth.ts";
import { parseDatabaseUrl } from "../lib/store/postgres_connection.ts";
import { PostgresStore } from "../lib/store/postgres_store.ts";
import { testDatabase, writeElectionInto } from "./postgres_helpers.ts";

Deno.test("a stopping booth closes its server, then its lockout ledger, then its store, each once the one before has finished", async () => {
  const finished: string[] = [];
  const finishedWhenCalled: Record<string, string[]> = {};
  const part = (name: string) => ({
    close: async () => {
      finishedWhenCalled[name] = [...finished];
      await Promise.resolve();
      finished.push(name);
    },
  });
  await closeBooth({
    server: part("server"),
    ledger: part("ledger"),
    store: part("store"),
  });
  assert.deepEqual(finishedWhenCalled, {
    server: [],
    ledger: ["server"],
    store: ["server", "ledger"],
  });
});

const FIRST = "192.0.2.1";
const SECOND = "192.0.2.2";
const ALICE = "1123456";

/** A row lock of the test's own, in a transaction on a connection of its own. */
interface RowHold extends AsyncDisposable {
  /** Ends the transaction (again: nothing). */
  release(): Promise<void>;
}

/**
 * Locks the lockout record of (address, number) until released: a clear of
 * that pair waits on it.
 */
async function holdPairRow(
  sql: postgres.Sql,
  address: string,
  number: string,
): Promise<RowHold> {
  const connection = await sql.reserve();
  let held = true;
  const release = async () => {
    if (!held) return;
    held = false;
    try {
      await connection`ROLLBACK`;
    } finally {
      connection.release();
    }
  };
  try {
    await connection`BEGIN`;
    const rows = await connection`
      SELECT 1 FROM booth.lockout_pairs
      WHERE address = ${address} AND number = ${number} FOR UPDATE`;
    assert.equal(rows.length, 1, `the record of ${address} exists to lock`);
  } catch (error) {
    await release();
    throw error;
  }
  return { release, [Symbol.asyncDispose]: release };
}

Deno.test("a success's clear still queued when a booth on PostgreSQL stops reaches the database: the ledger sends it before the store ends its pool", async () => {
  await using db = await testDatabase();
  await writeElectionInto(db, {
    voters: [{ name: "Alice", number: ALICE, password: "1234" }],
    candidates: ["Chris", "Jay"],
  });
  const firstClearSent = Promise.withResolvers<void>();
  const store = await PostgresStore.open(parseDatabaseUrl(db.url), {
    onStatement: (text) => {
      if (text.includes("jsonb_to_recordset")) firstClearSent.resolve();
    },
  });
  const ledger = store.lockoutLedger({ sweepEveryMs: 0 });
  try {
    // Alice's right password from two addresses: two checks counted, each
    // to be undone by its clear.
    const first = await ledger.admit(
      { address: FIRST, number: ALICE, now: Date.now() },
      DEFAULT_LOCKOUT_POLICY,
    );
    const second = await ledger.admit(
      { address: SECOND, number: ALICE, now: Date.now() },
      DEFAULT_LOCKOUT_POLICY,
    );
    assert.ok(first.verdict.allowed && second.verdict.allowed);
    // The first clear is sent and waits on the test's lock; the second, made
    // after the first was sent, is queued behind it: still unsent, whatever
    // the ledger's timers do, until the lock is released.
    await using hold = await holdPairRow(db.sql, FIRST, ALICE);
    ledger.clear(FIRST, ALICE, first.verdict.at);
    await firstClearSent.promise;
    ledger.clear(SECOND, ALICE, second.verdict.at);
    await closeBooth({
      server: { close: () => Promise.resolve() },
      // The lock is released once the booth closes the ledger. Were the store
      // closed first, its pool would end (after 5 s with the first clear
      // still running) before the second clear is sent.
      ledger: {
        close: async () => {
          await hold.release();
          await ledger.close();
        },
      },
      store,
    });
    const pairs = await db.sql`
      SELECT address FROM booth.lockout_pairs ORDER BY address`;
    assert.deepEqual(
      pairs.map((row) => row.address),
      [],
      "both successes reset their pair, the one queued at shutdown included",
    );
  } finally {
    await ledger.close();
    await store.close();
  }
});
