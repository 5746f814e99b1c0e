/** The booth's rules, in memory: login, one vote each, result visibility. */

import assert from "node:assert/strict";
import { auditElection, Election, winnersOf } from "../lib/election/booth.ts";
import type { ElectionState } from "../lib/election/booth.ts";
import {
  decodeBase64,
  generateKey,
  sealPassword,
} from "../lib/election/crypto.ts";
import type { VoterEntry } from "../lib/election/election_files.ts";
import { winnerLine } from "../lib/client/voter_client.ts";
import { ballotHeading } from "../lib/client/voter_client.ts";

const key = generateKey();
function voter(
  name: string,
  number: string,
  password: string,
  line: number,
): VoterEntry {
  return {
    name,
    number,
    sealed: decodeBase64(sealPassword(key, { name, number }, password))!,
    line,
  };
}
function seedState(): ElectionState {
  return {
    key,
    voters: [
      voter("Alice", "1123456", "1234", 1),
      voter("Bob", "1138765", "5678", 2),
      voter("Tom", "1154571", "9012", 3),
    ],
    candidates: ["Chris", "Linda"],
    totals: [0, 0],
    history: [],
  };
}
const paths = {
  passwords: "data/passwords",
  result: "data/result",
  history: "data/history",
};
const now = new Date("2026-11-26T03:40:12Z");

Deno.test("login needs the name, the registration number and the password together", () => {
  const election = new Election(seedState());
  assert.equal(election.login("Alice", "1123456", "1234"), "Alice");
  assert.equal(
    election.login("Alice", "1123456", "5678"),
    undefined,
    "wrong password",
  );
  assert.equal(
    election.login("Bob", "1123456", "1234"),
    undefined,
    "wrong name",
  );
  assert.equal(
    election.login("Alice", "1138765", "1234"),
    undefined,
    "another voter's number",
  );
  assert.equal(
    election.login("Alice", "9999999", "1234"),
    undefined,
    "unknown number",
  );
});

Deno.test("a voter's ballot counts once; the second in the same group and later ones do not", () => {
  const election = new Election(seedState());
  const plan = election.plan([{ voter: "Alice", choice: 1 }, {
    voter: "Alice",
    choice: 2,
  }, { voter: "Bob", choice: 2 }], now);
  assert.deepEqual(plan.accepted, [true, false, true]);
  assert.deepEqual(plan.totals, [1, 1]);
  assert.deepEqual(plan.historyLines, [
    "Alice 2026-11-26T03:40:12Z",
    "Bob 2026-11-26T03:40:12Z",
  ]);
  assert.equal(election.hasVoted("Alice"), false, "planning changes nothing");
  election.apply(plan);
  assert.equal(election.hasVoted("Alice"), true);
  assert.equal(election.historyEntry("Bob"), "Bob 2026-11-26T03:40:12Z");
  assert.deepEqual(
    election.plan([{ voter: "Alice", choice: 2 }], now).accepted,
    [false],
  );
});

Deno.test("a choice off the ballot is never counted", () => {
  const election = new Election(seedState());
  assert.deepEqual(
    election.plan(
      [{ voter: "Tom", choice: 0 }, { voter: "Tom", choice: 3 }],
      now,
    ).accepted,
    [false, false],
  );
});

Deno.test("the result is available only when every registered voter has voted", () => {
  const election = new Election(seedState());
  election.apply(
    election.plan(
      [{ voter: "Alice", choice: 1 }, { voter: "Bob", choice: 2 }],
      now,
    ),
  );
  assert.deepEqual(election.result(), { type: "result", answer: 0 });
  election.apply(election.plan([{ voter: "Tom", choice: 1 }], now));
  assert.deepEqual(election.result(), {
    type: "result",
    answer: 1,
    winners: ["Chris"],
    totals: [{ candidate: "Chris", votes: 2 }, {
      candidate: "Linda",
      votes: 1,
    }],
  });
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

Deno.test("the audit finds every kind of inconsistency, naming file and line", () => {
  assert.deepEqual(auditElection(seedState(), paths), []);
  const state = seedState();
  state.voters[1] = { ...state.voters[1], sealed: state.voters[0].sealed };
  state.history = [
    { name: "Alice", time: "2026-11-26T03:40:12Z", line: 1 },
    { name: "Alice", time: "2026-11-26T03:41:12Z", line: 2 },
    { name: "Eve", time: "2026-11-26T03:42:12Z", line: 3 },
  ];
  state.totals = [1, 0];
  assert.deepEqual(auditElection(state, paths), [
    'Voter file "data/passwords": line 2 ("Bob") does not authenticate under the key in symkey',
    'History file "data/history": line 2 records a second vote by "Alice" (first on line 1)',
    'History file "data/history": line 3 names "Eve", who is not in passwords',
    'Result file "data/result": totals add up to 1 votes but history has 3 lines',
  ]);
});
