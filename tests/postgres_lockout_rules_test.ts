/**
 * The PostgreSQL ledger's SQL is held to the pure lockout rules: random
 * sequences of logins and successes, over 3 addresses and 3 numbers, with
 * the clock moving across locks and the 24-hour window, get the same verdict
 * from the database as from the in-memory ledger running
 * `lib/election/lockout_rules.ts`. `FUZZ_SEED=<seed>` replays a run.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type {
  CheckVerdict,
  LockoutPolicy,
} from "../lib/election/lockout_rules.ts";
import { MemoryLockoutLedger } from "../lib/store/lockout_ledger.ts";
import { PostgresLockoutLedger } from "../lib/store/postgres_lockout_ledger.ts";
import { testDatabase, writeElectionInto } from "./postgres_helpers.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261126);

/**
 * Small numbers, so that a short run reaches every branch of the rules: a
 * number's window that locks before a pair's lock can double twice, and one
 * wide enough for a pair's lock to reach its cap.
 */
const POLICIES: Record<string, LockoutPolicy> = {
  "a narrow window": {
    threshold: 3,
    lockSeconds: 2,
    maxLockSeconds: 4,
    windowLimit: 4,
    windowSeconds: 60,
  },
  "a wide window": {
    threshold: 3,
    lockSeconds: 2,
    maxLockSeconds: 4,
    windowLimit: 10,
    windowSeconds: 60,
  },
};

const ADDRESSES = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
/** Alice's number is registered; the other two are not. */
const NUMBERS = ["1123456", "1000001", "1000002"];

type Step =
  | { kind: "admit"; address: number; number: number; advanceMs: number }
  | { kind: "success"; pick: number };

/**
 * Mostly bursts (so that locks happen), then just before, at and just after
 * a lock's or the window's end, or anywhere.
 */
const advance = fc.oneof(
  { weight: 10, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.constantFrom(1999, 2000, 2001, 4000, 8000) },
  { weight: 2, arbitrary: fc.constantFrom(59_999, 60_000, 60_001) },
  { weight: 1, arbitrary: fc.nat({ max: 70_000 }) },
);

/** An index below `count`, mostly 0, so that one pair meets its limits. */
function oneMostly(count: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.nat({ max: count - 1 }) },
  );
}

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("admit" as const),
      address: oneMostly(ADDRESSES.length),
      number: oneMostly(NUMBERS.length),
      advanceMs: advance,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("success" as const),
      pick: fc.nat(),
    }),
  },
);

for (const [name, policy] of Object.entries(POLICIES)) {
  Deno.test(`random logins and successes give the same verdicts from the PostgreSQL ledger as from the pure rules, with ${name}`, async () => {
    await using db = await testDatabase();
    await writeElectionInto(db, {
      voters: [{ name: "Alice", number: NUMBERS[0], password: "1234" }],
      candidates: ["Chris", "Jay"],
    });
    let runs = 0;
    let compared = 0;
    const allowed = { yes: 0, no: 0, locksIfWrong: 0, everyone: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 10, maxLength: 40 }),
        async (steps) => {
          runs++;
          await db.sql`TRUNCATE booth.lockout_pairs, booth.lockout_numbers`;
          let now = Date.UTC(2026, 0, 1) + runs * 10_000_000;
          await using memory = new MemoryLockoutLedger({ now: () => now });
          await using database = new PostgresLockoutLedger(db.sql, {
            sweepEveryMs: 0,
          });
          const checks: { address: string; number: string; at: number }[] = [];
          for (const s of steps) {
            if (s.kind === "success") {
              // A success of an earlier allowed check, queued on both: the
              // database sends its queued clears as one batch, later.
              if (checks.length === 0) continue;
              const [check] = checks.splice(s.pick % checks.length, 1);
              memory.clear(check.address, check.number, check.at);
              database.clear(check.address, check.number, check.at);
              continue;
            }
            now += s.advanceMs;
            await database.flush();
            const attempt = {
              address: ADDRESSES[s.address],
              number: NUMBERS[s.number],
              now,
            };
            const expected = await memory.admit(attempt, policy, {
              findVoter: (number) =>
                Promise.resolve(
                  number === NUMBERS[0]
                    ? { name: "Alice", number, sealed: new Uint8Array() }
                    : undefined,
                ),
            });
            const actual = await database.admit(attempt, policy);
            assert.deepEqual<CheckVerdict>(actual.verdict, expected.verdict);
            assert.equal(actual.voter?.name, expected.voter?.name);
            compared++;
            const verdict = expected.verdict;
            if (verdict.allowed) {
              allowed.yes++;
              checks.push({ ...attempt, at: verdict.at });
              if (verdict.locksIfWrong) allowed.locksIfWrong++;
            } else {
              allowed.no++;
              if (verdict.lock.scope === "everyone") allowed.everyone++;
            }
          }
        },
      ),
      { numRuns: 100, seed: SEED },
    );
    // The runs reached every kind of verdict, so the comparison meant something.
    assert.ok(compared > 500, `${compared} verdicts compared`);
    for (const [kind, count] of Object.entries(allowed)) {
      assert.ok(count > 0, `${count} verdicts of kind ${kind}`);
    }
  });
}
