/** The booth's rules, in memory: login, one vote each, result visibility. */

import assert from "node:assert/strict";
import {
  decideBallots,
  PasswordVerifier,
  resultOf,
  winnersOf,
} from "../lib/election/booth.ts";
import type { RegisteredVoter } from "../lib/election/booth.ts";
import { generateKey, sealPassword } from "../lib/election/crypto.ts";
import { canonicalPassword } from "../lib/election/credentials.ts";
import { winnerLine } from "../lib/client/voter_client.ts";
import { ballotHeading } from "../lib/client/voter_client.ts";

const key = generateKey();
function voter(name: string, number: string, password: string) {
  return {
    name,
    number,
    sealed: sealPassword(key, { name, number }, password),
  };
}
const ROLL = new Map<string, RegisteredVoter>(
  [
    voter("Alice", "1123456", "1234"),
    voter("Bob", "1138765", "5678"),
  ].map((v) => [v.number, v]),
);
const now = new Date("2026-11-26T03:40:12Z");

Deno.test("login needs the name, the registration number and the password together", () => {
  const verifier = new PasswordVerifier(key);
  const login = (name: string, number: string, password: string) =>
    verifier.verify(ROLL.get(number), name, password);
  assert.equal(login("Alice", "1123456", "1234"), "Alice");
  assert.equal(login("Alice", "1123456", "5678"), undefined, "wrong password");
  assert.equal(login("Bob", "1123456", "1234"), undefined, "wrong name");
  assert.equal(
    login("Alice", "1138765", "1234"),
    undefined,
    "another voter's number",
  );
  assert.equal(login("Alice", "9999999", "1234"), undefined, "unknown number");
  assert.equal(
    new PasswordVerifier(generateKey()).verify(
      ROLL.get("1123456"),
      "Alice",
      "1234",
    ),
    undefined,
    "another election's key",
  );
});

Deno.test("a name typed in NFD (Zoe and a combining diaeresis) logs in the voter registered as Zoë", () => {
  const zoe = voter("Zo\u00eb", "1160000", "4321");
  const verifier = new PasswordVerifier(key);
  assert.equal(verifier.verify(zoe, "Zoe\u0308", "4321"), "Zo\u00eb");
  assert.equal(verifier.verify(zoe, "Zo\u00eb", "4321"), "Zo\u00eb");
  assert.equal(verifier.verify(zoe, "Zoe", "4321"), undefined);
});

Deno.test("a generated password may be typed in lower case, without dashes or with spaces; any other password exactly", () => {
  const roll = new Map<string, RegisteredVoter>(
    [
      voter("Ada", "1000001", "7KQ4-MX9P-2HWC"),
      voter("Cy", "1000002", "abcd-efgh-jkmn"),
      voter("Di", "1000003", "Secret"),
    ].map((v) => [v.number, v]),
  );
  const verifier = new PasswordVerifier(key);
  const login = (name: string, number: string, password: string) =>
    verifier.verify(roll.get(number), name, password);
  for (
    const typed of [
      "7KQ4-MX9P-2HWC",
      "7kq4-mx9p-2hwc",
      "7KQ4MX9P2HWC",
      "7kq4 mx9p 2hwc",
      " 7KQ4--MX9P-2HWC ",
    ]
  ) {
    assert.equal(login("Ada", "1000001", typed), "Ada", typed);
  }
  for (const typed of ["7KQ4-MX9P-2HW", "7KQ4-MX9P-2HWCC", "7KQ4-MX9P-2HWO"]) {
    assert.equal(login("Ada", "1000001", typed), undefined, typed);
  }
  assert.equal(login("Cy", "1000002", "abcd-efgh-jkmn"), "Cy", "as given");
  assert.equal(
    login("Cy", "1000002", "ABCD-EFGH-JKMN"),
    undefined,
    "a roll's own password is exact, even when it looks generated",
  );
  assert.equal(login("Di", "1000003", "Secret"), "Di");
  assert.equal(login("Di", "1000003", "secret"), undefined, "case counts");
  assert.equal(login("Alice", "1123456", "12 34"), undefined, "seed digits");
  assert.equal(
    canonicalPassword("7kq4 mx9p-2hwc"),
    "7KQ4-MX9P-2HWC",
  );
  assert.equal(canonicalPassword("1234"), undefined);
  assert.equal(canonicalPassword("0KQ4-MX9P-2HWC"), undefined, "0 is not used");
});

Deno.test("a voter's ballot counts once: the second in the same group and a later one are already-voted", () => {
  const voted = new Set<string>();
  const standing = { candidateCount: 2, hasVoted: (v: string) => voted.has(v) };
  assert.deepEqual(
    decideBallots(
      [
        { voter: "Alice", choice: 1 },
        { voter: "Alice", choice: 2 },
        { voter: "Bob", choice: 2 },
      ],
      standing,
      now,
    ),
    [
      { kind: "recorded", record: { voter: "Alice", time: now } },
      { kind: "already-voted" },
      { kind: "recorded", record: { voter: "Bob", time: now } },
    ],
  );
  voted.add("Alice");
  assert.deepEqual(
    decideBallots([{ voter: "Alice", choice: 2 }], standing, now),
    [{ kind: "already-voted" }],
  );
});

Deno.test("a choice off the ballot is never counted, whoever sends it", () => {
  const standing = { candidateCount: 2, hasVoted: () => false };
  const outcomes = decideBallots(
    [0, 3, -1, 1.5, NaN, 2 ** 53].map((choice) => ({ voter: "Tom", choice })),
    standing,
    now,
  );
  assert.deepEqual(outcomes, Array(6).fill({ kind: "not-on-ballot" }));
  assert.deepEqual(
    decideBallots([{ voter: "Tom", choice: 9 }], {
      candidateCount: 2,
      hasVoted: () => true,
    }, now),
    [{ kind: "not-on-ballot" }],
    "off the ballot, even for a voter who has voted",
  );
});

Deno.test("the result is available only when every registered voter has voted", () => {
  const candidates = ["Chris", "Linda"];
  assert.deepEqual(
    resultOf(candidates, { registered: 3, voted: 2, totals: [1, 1] }),
    { available: false },
  );
  assert.deepEqual(
    resultOf(candidates, { registered: 3, voted: 3, totals: [2, 1] }),
    {
      available: true,
      winners: ["Chris"],
      totals: [
        { candidate: "Chris", votes: 2 },
        { candidate: "Linda", votes: 1 },
      ],
    },
  );
});

Deno.test("winners: one, or everyone tied for first in ballot order", () => {
  const totals = (...votes: number[]) =>
    votes.map((v, i) => ({ candidate: "ABC"[i], votes: v }));
  assert.deepEqual(winnersOf(totals(2, 1)), ["A"]);
  assert.deepEqual(winnersOf(totals(1, 2, 2)), ["B", "C"]);
  assert.equal(winnerLine(["Chris"]), "Chris Win");
  assert.equal(winnerLine(["Chris", "Linda"]), "Tie between Chris and Linda");
  assert.equal(winnerLine(["A", "B", "C"]), "Tie between A, B and C");
});

Deno.test("the ballot heading reads (enter 1 or 2) for two candidates, (enter 1-M) otherwise", () => {
  assert.equal(ballotHeading(2), "Candidates: (enter 1 or 2)");
  assert.equal(ballotHeading(3), "Candidates: (enter 1-3)");
  assert.equal(ballotHeading(12), "Candidates: (enter 1-12)");
});
