/**
 * The login throttle's rules on fake time, over the in-memory ledger: locks
 * per (source address, registration number), the 100-in-24-hours cap per
 * number, and the ledger's bound.
 */

import assert from "node:assert/strict";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import type {
  CheckVerdict,
  LockoutPolicy,
} from "../lib/election/lockout_rules.ts";
import { MemoryLockoutLedger } from "../lib/store/lockout_ledger.ts";
import { FakeClock } from "./fake_clock.ts";

const ALICE = "1123456";
const HOUR = 3600_000;

function throttle(
  options: { maxPairs?: number; maxNumbers?: number } = {},
  policy: Partial<LockoutPolicy> = {},
) {
  const clock = new FakeClock();
  const ledger = new MemoryLockoutLedger({ ...options, now: clock.now });
  return {
    clock,
    ledger,
    throttle: new LoginThrottle(ledger, { clock, ...policy }),
  };
}

/** Fails `count` password checks; returns the verdicts. */
async function fail(
  t: LoginThrottle,
  address: string,
  count: number,
  number = ALICE,
): Promise<CheckVerdict[]> {
  const verdicts = [];
  for (let i = 0; i < count; i++) {
    verdicts.push((await t.admit(address, number)).verdict);
  }
  return verdicts;
}

const checked = (verdicts: CheckVerdict[]) =>
  verdicts.filter((v) => v.allowed).length;

Deno.test("five failures lock the (address, number) pair for 30 s; other addresses still check", async () => {
  const { throttle: t, clock } = throttle();
  const verdicts = await fail(t, "10.0.0.2", 6);
  assert.equal(checked(verdicts), 5);
  const fifth = verdicts[4];
  assert.deepEqual(fifth.allowed && fifth.locksIfWrong, {
    seconds: 30,
    scope: "address",
  });
  assert.deepEqual(verdicts[5], {
    allowed: false,
    lock: { seconds: 30, scope: "address" },
  });
  assert.equal((await t.admit("10.0.0.1", ALICE)).verdict.allowed, true);
  clock.advance(29_999);
  assert.equal((await t.admit("10.0.0.2", ALICE)).verdict.allowed, false);
  clock.advance(1);
  assert.equal((await t.admit("10.0.0.2", ALICE)).verdict.allowed, true);
});

Deno.test("each further lock of a pair doubles, up to 24 hours; a success resets the pair", async () => {
  const { throttle: t, clock } = throttle();
  const locks: number[] = [];
  for (let round = 0; round < 14; round++) {
    for (const verdict of await fail(t, "10.0.0.2", 5)) {
      if (verdict.allowed && verdict.locksIfWrong) {
        locks.push(verdict.locksIfWrong.seconds);
      }
    }
    clock.advance(locks[locks.length - 1] * 1000);
    // Keep the number's own 24-hour count out of this test.
    clock.advance(24 * HOUR);
  }
  assert.deepEqual(locks, [
    30,
    60,
    120,
    240,
    480,
    960,
    1920,
    3840,
    7680,
    15360,
    30720,
    61440,
    86400,
    86400,
  ]);
  const { verdict } = await t.admit("10.0.0.2", ALICE);
  assert.ok(verdict.allowed);
  t.recordSuccess("10.0.0.2", ALICE, verdict.at);
  const again = await fail(t, "10.0.0.2", 5);
  assert.deepEqual(again[4].allowed && again[4].locksIfWrong?.seconds, 30);
});

Deno.test("refusals while locked are not password checks and do not extend the lock", async () => {
  const { throttle: t, clock } = throttle();
  await fail(t, "10.0.0.2", 5);
  const refused = await fail(t, "10.0.0.2", 55);
  assert.equal(checked(refused), 0);
  clock.advance(30_000);
  const next = await fail(t, "10.0.0.2", 5);
  assert.equal(checked(next), 5, "the pair checks again after its 30 s");
  assert.deepEqual(next[4].allowed && next[4].locksIfWrong?.seconds, 60);
});

Deno.test("5 failures from each of 20 addresses lock the number for everyone for 24 hours", async () => {
  const { throttle: t, clock } = throttle();
  for (let a = 0; a < 20; a++) {
    const verdicts = await fail(t, `10.0.1.${a}`, 5);
    assert.equal(checked(verdicts), 5, `address ${a}`);
    if (a === 19) {
      assert.deepEqual(verdicts[4].allowed && verdicts[4].locksIfWrong, {
        seconds: 24 * 3600,
        scope: "everyone",
      });
    }
  }
  const { verdict: elsewhere } = await t.admit("10.0.0.1", ALICE);
  assert.deepEqual(elsewhere, {
    allowed: false,
    lock: { seconds: 24 * 3600, scope: "everyone" },
  });
  assert.equal((await t.admit("10.0.0.1", "1138765")).verdict.allowed, true);
  clock.advance(24 * HOUR - 1000);
  assert.equal((await t.admit("10.0.0.1", ALICE)).verdict.allowed, false);
  clock.advance(1000);
  assert.equal((await t.admit("10.0.0.1", ALICE)).verdict.allowed, true);
});

Deno.test("the 100-failure cap is over any 24 hours: old failures leave the window one by one", async () => {
  const { throttle: t, clock } = throttle();
  // 4 failures an hour from 24 addresses, at hours 0 to 23: 96.
  for (let a = 0; a < 24; a++) {
    assert.equal(checked(await fail(t, `10.0.2.${a}`, 4)), 4);
    clock.advance(HOUR);
  }
  // At hour 24 the 4 of hour 0 have left the window: 92 in it, 8 more
  // allowed, then locked until the 4 of hour 1 leave, an hour later.
  assert.equal(checked(await fail(t, "10.0.3.1", 4)), 4);
  const verdicts = await fail(t, "10.0.3.2", 5);
  assert.equal(checked(verdicts), 4);
  assert.deepEqual(verdicts[4], {
    allowed: false,
    lock: { seconds: 3600, scope: "everyone" },
  });
});

Deno.test("a successful login does not count against the number's 24-hour cap", async () => {
  const { throttle: t } = throttle();
  for (let i = 0; i < 150; i++) {
    const { verdict } = await t.admit("10.0.0.1", ALICE);
    assert.ok(verdict.allowed, `login ${i}`);
    t.recordSuccess("10.0.0.1", ALICE, verdict.at);
  }
});

Deno.test("logins racing on one pair check exactly 5 passwords", async () => {
  const { throttle: t } = throttle();
  const verdicts = await Promise.all(
    Array.from({ length: 50 }, () => t.admit("10.0.0.2", ALICE)),
  );
  assert.equal(checked(verdicts.map((v) => v.verdict)), 5);
});

Deno.test("the in-memory ledger stays within its bound and keeps locked records over unlocked ones", async () => {
  const { throttle: t, ledger } = throttle({ maxPairs: 100, maxNumbers: 50 });
  await fail(t, "10.0.0.2", 5, "locked");
  for (let i = 0; i < 1000; i++) {
    await t.admit(`10.9.${i >> 8}.${i & 255}`, String(i));
  }
  assert.deepEqual(ledger.size, { pairs: 100, numbers: 50 });
  assert.equal(
    (await t.admit("10.0.0.2", "locked")).verdict.allowed,
    false,
    "the locked pair was kept",
  );
});

/** One wrong login on each of `count` numbers nobody else uses, from `address`. */
async function junk(t: LoginThrottle, address: string, count: number) {
  for (let i = 0; i < count; i++) await t.admit(address, `junk${i}`);
}

Deno.test("junk logins on other numbers do not push a number locked for everyone out of a full ledger (review finding)", async () => {
  const { throttle: t } = throttle({ maxPairs: 100, maxNumbers: 50 });
  for (let a = 0; a < 20; a++) await fail(t, `10.0.1.${a}`, 5);
  await junk(t, "10.0.2.1", 1000);
  const { verdict } = await t.admit("10.0.0.1", ALICE);
  assert.deepEqual(verdict, {
    allowed: false,
    lock: { seconds: 24 * 3600, scope: "everyone" },
  });
});

Deno.test("a number's failures outlast lighter records: after junk logins it still gets only the rest of its 100", async () => {
  const { throttle: t } = throttle({ maxPairs: 100, maxNumbers: 50 });
  for (let a = 0; a < 12; a++) await fail(t, `10.0.1.${a}`, 5);
  await junk(t, "10.0.2.1", 1000);
  let allowed = 0;
  for (let a = 12; a < 30; a++) {
    allowed += checked(await fail(t, `10.0.1.${a}`, 5));
  }
  assert.equal(allowed, 100 - 60);
});

Deno.test("a pair's earlier locks outlast junk pairs of its address: its next lock still doubles", async () => {
  const { throttle: t, clock } = throttle({ maxPairs: 50, maxNumbers: 50 });
  await fail(t, "10.0.0.2", 5);
  clock.advance(30_000);
  await fail(t, "10.0.0.2", 5);
  clock.advance(60_000);
  await junk(t, "10.0.0.2", 1000);
  const third = await fail(t, "10.0.0.2", 5);
  assert.deepEqual(third[4].allowed && third[4].locksIfWrong, {
    seconds: 120,
    scope: "address",
  });
});

Deno.test("a full ledger forgets a number whose failures left the window before a lighter one still in it", async () => {
  const { throttle: t, clock } = throttle({ maxNumbers: 2 }, {
    windowLimit: 3,
    threshold: 10,
  });
  await fail(t, "10.0.0.1", 2, "old");
  clock.advance(25 * HOUR);
  await fail(t, "10.0.0.2", 1, "recent");
  await fail(t, "10.0.0.3", 1, "new"); // full: "old" goes, not "recent"
  const recent = await fail(t, "10.0.0.2", 3, "recent");
  assert.deepEqual(recent.map((v) => v.allowed), [true, true, false]);
});

Deno.test("a ledger full of numbers locked for everyone forgets the least recently changed of them for a new number", async () => {
  const { throttle: t, clock } = throttle({ maxNumbers: 2 }, {
    windowLimit: 2,
    threshold: 10,
  });
  await fail(t, "10.0.0.1", 2, "first");
  clock.advance(1000);
  await fail(t, "10.0.0.1", 2, "second");
  assert.equal((await t.admit("10.0.0.2", "new")).verdict.allowed, true);
  assert.equal((await t.admit("10.0.0.2", "second")).verdict.allowed, false);
  assert.equal(
    (await t.admit("10.0.0.3", "first")).verdict.allowed,
    true,
    "the first was forgotten",
  );
});
