/**
 * The polls window: when a vote counts, decided by pure functions of an
 * injected time, and the running server's view of the `polls` file.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  auditWindow,
  closedWindow,
  closingProblem,
  formatPolls,
  neverOpens,
  newWindowProblem,
  nextWholeSecond,
  parsePolls,
  parseTimeWithOffset,
  pollsStateAt,
  windowProblem,
} from "../lib/election/polls.ts";
import { ElectionFileError } from "../lib/election/election_files.ts";
import { PollsFile, readPollsFile } from "../lib/store/polls_file.ts";
import { UnsafeFileError } from "../lib/store/file_ops.ts";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { VoterSession } from "../lib/server/session.ts";
import { PasswordVerifier } from "../lib/election/booth.ts";
import { createElection } from "../lib/store/create_election.ts";
import { readElectionKey } from "../lib/store/election_state.ts";
import { FileBoothStore } from "../lib/store/file_store.ts";
import {
  decodeServerMessage,
  encodeMessage,
  ProtocolError,
} from "../lib/wire/protocol.ts";
import type { ServerMessage } from "../lib/wire/protocol.ts";
import { decideBallots, resultOf } from "../lib/election/booth.ts";
import { tempDir } from "./temp_dir.ts";

const at = (text: string) => new Date(text);
const WINDOW = {
  opensAt: at("2026-11-26T08:00:00Z"),
  closesAt: at("2026-11-26T20:00:00Z"),
};

Deno.test("the polls are open from the opening time inclusive to the closing time exclusive", () => {
  assert.equal(
    pollsStateAt(WINDOW, at("2026-11-26T07:59:59.999Z")),
    "not-open",
  );
  assert.equal(pollsStateAt(WINDOW, at("2026-11-26T08:00:00Z")), "open");
  assert.equal(pollsStateAt(WINDOW, at("2026-11-26T19:59:59.999Z")), "open");
  assert.equal(pollsStateAt(WINDOW, at("2026-11-26T20:00:00Z")), "closed");
  assert.equal(pollsStateAt({}, at("2999-01-01T00:00:00Z")), "open");
});

Deno.test("times are ISO 8601 with an offset; a time without one or a date that does not exist is refused", () => {
  assert.deepEqual(
    parseTimeWithOffset("2026-11-26T21:00:00+01:00"),
    at("2026-11-26T20:00:00Z"),
  );
  assert.deepEqual(
    parseTimeWithOffset("2026-11-26T20:00Z"),
    at("2026-11-26T20:00:00Z"),
  );
  assert.deepEqual(
    parseTimeWithOffset("2026-11-26T15:30:00.250-04:30"),
    at("2026-11-26T20:00:00.250Z"),
  );
  for (
    const bad of [
      "2026-11-26T20:00:00",
      "2026-02-30T10:00Z",
      "tomorrow",
      "2026-11-26 20:00Z",
      "",
    ]
  ) {
    assert.equal(parseTimeWithOffset(bad), undefined, bad);
  }
});

Deno.test("the polls file round-trips and refuses malformed lines with their number", () => {
  const text = formatPolls(WINDOW);
  assert.equal(
    text,
    "opens-at 2026-11-26T08:00:00Z\ncloses-at 2026-11-26T20:00:00Z\n",
  );
  assert.deepEqual(parsePolls(text, "polls"), WINDOW);
  assert.deepEqual(parsePolls("", "polls"), {});
  const cases: [string, RegExp][] = [
    ["opens-at 2026-11-26T08:00\n", /line 1 is not "opens-at <time>"/],
    [
      "closes-at 2026-11-26T08:00Z\ncloses-at 2026-11-26T09:00Z\n",
      /line 2 repeats "closes-at"/,
    ],
    [
      "opens-at 2026-11-26T09:00Z\ncloses-at 2026-11-26T08:00Z\n",
      /is not after the opening time/,
    ],
    ["open 2026-11-26T08:00Z\n", /line 1 is not/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => parsePolls(bad, "data/polls"), (error: Error) => {
      assert.ok(error instanceof ElectionFileError);
      assert.match(error.message, /^Cannot read polls file "data\/polls": /);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("closing is refused once the polls have closed, or at a time already past", () => {
  const now = at("2026-11-26T12:00:00Z");
  assert.equal(closingProblem(WINDOW, now, now), undefined);
  assert.equal(closingProblem({}, at("2026-11-26T13:00:00Z"), now), undefined);
  assert.match(
    closingProblem(WINDOW, at("2026-11-26T11:59:59Z"), now)!,
    /is in the past/,
  );
  assert.match(
    closingProblem(
      WINDOW,
      at("2026-11-27T00:00:00Z"),
      at("2026-11-26T21:00:00Z"),
    )!,
    /the polls closed already/,
  );
});

Deno.test("closing before the opening is allowed and the polls never open: closed from the closing on, and a new election still may not open and close at once", () => {
  // WINDOW opens at 08:00; at 06:00 the official closes at 07:00.
  const closesAt = at("2026-11-26T07:00:00Z");
  assert.equal(
    closingProblem(WINDOW, closesAt, at("2026-11-26T06:00:00Z")),
    undefined,
  );
  const window = closedWindow(WINDOW, closesAt);
  assert.deepEqual(window, { opensAt: closesAt, closesAt });
  assert.equal(windowProblem(window), undefined);
  for (
    const time of ["06:00:00", "06:59:59", "07:00:00", "08:00:00", "21:00:00"]
  ) {
    assert.notEqual(
      pollsStateAt(window, at(`2026-11-26T${time}Z`)),
      "open",
      time,
    );
  }
  assert.equal(pollsStateAt(window, closesAt), "closed");
  // A closing after the opening keeps it.
  assert.deepEqual(closedWindow(WINDOW, at("2026-11-26T19:00:00Z")), {
    opensAt: WINDOW.opensAt,
    closesAt: at("2026-11-26T19:00:00Z"),
  });
  assert.match(
    newWindowProblem(window, at("2026-11-26T06:00:00Z"))!,
    /is not after the opening time/,
  );
});

Deno.test("a window closed at or before its opening never opens; an ordinary or open-ended one does", () => {
  const closesAt = at("2026-11-26T07:00:00Z");
  assert.equal(neverOpens(closedWindow(WINDOW, closesAt)), true);
  assert.equal(neverOpens(WINDOW), false);
  assert.equal(
    neverOpens(closedWindow(WINDOW, at("2026-11-26T19:00:00Z"))),
    false,
  );
  assert.equal(neverOpens({ closesAt }), false);
  assert.equal(neverOpens({ opensAt: closesAt }), false);
});

Deno.test("close without --at closes at the next whole second, or at now when now is one", () => {
  assert.equal(
    nextWholeSecond(Date.parse("2026-11-26T17:41:22.698Z")).toISOString(),
    "2026-11-26T17:41:23.000Z",
  );
  assert.equal(
    nextWholeSecond(Date.parse("2026-11-26T17:41:22.001Z")).toISOString(),
    "2026-11-26T17:41:23.000Z",
  );
  assert.equal(
    nextWholeSecond(Date.parse("2026-11-26T17:41:22Z")).toISOString(),
    "2026-11-26T17:41:22.000Z",
  );
  // What `polls` then holds parses back to the same moment.
  const closing = nextWholeSecond(Date.parse("2026-11-26T17:41:22.698Z"));
  const text = formatPolls(closedWindow(WINDOW, closing));
  assert.equal(
    text,
    "opens-at 2026-11-26T08:00:00Z\ncloses-at 2026-11-26T17:41:23Z\n",
  );
  assert.deepEqual(parsePolls(text, "polls").closesAt, closing);
});

Deno.test("a new election may not close in the past, nor close at or before it opens", () => {
  const now = at("2026-11-26T12:00:00Z");
  assert.equal(newWindowProblem({}, now), undefined);
  assert.equal(newWindowProblem(WINDOW, at("2026-11-26T07:00:00Z")), undefined);
  assert.equal(
    newWindowProblem({ closesAt: at("2026-11-26T11:59:59Z") }, now),
    'the closing time "2026-11-26T11:59:59Z" is in the past',
  );
  assert.equal(
    newWindowProblem({ closesAt: now }, now),
    'the closing time "2026-11-26T12:00:00Z" is in the past',
  );
  assert.equal(
    newWindowProblem({
      opensAt: at("2026-11-27T10:00:00Z"),
      closesAt: at("2026-11-27T10:00:00Z"),
    }, now),
    'the closing time "2026-11-27T10:00:00Z" is not after the opening time "2026-11-27T10:00:00Z"',
  );
});

Deno.test("verify's window check finds votes recorded before the opening or after the closing", () => {
  const history = [
    { name: "Alice", time: "2026-11-26T07:59:59Z", line: 1 },
    { name: "Bob", time: "2026-11-26T08:00:00Z", line: 2 },
    { name: "Tom", time: "2026-11-26T20:00:00Z", line: 3 },
  ];
  assert.deepEqual(auditWindow(WINDOW, history, "data/history"), [
    'History file "data/history": line 1 records a vote before the polls opened',
    'History file "data/history": line 3 records a vote after the polls closed',
  ]);
  const halfSecond = { opensAt: at("2026-11-26T08:00:00.500Z") };
  assert.deepEqual(
    auditWindow(halfSecond, [history[1]], "h"),
    [],
    "a history time is cut to the second: 08:00:00 may be 08:00:00.700",
  );
});

/**
 * An empty polls file in a temporary directory, loaded on a clock the test
 * sets (in ms, from 0): `run` gets its path, the loaded file and the setter.
 */
async function withEmptyPollsFile(
  run: (
    path: string,
    polls: PollsFile,
    setNowMs: (ms: number) => void,
  ) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir("booth-polls-");
  const path = join(dir.path, "polls");
  await Deno.writeTextFile(path, "");
  let now = 0;
  const polls = await PollsFile.load(path, { nowMs: () => now });
  await run(path, polls, (ms) => now = ms);
}

Deno.test("a running server's view of the polls file is re-read at most once a second", async () => {
  await withEmptyPollsFile(async (path, polls, setNowMs) => {
    assert.deepEqual(await polls.window(), {});
    await Deno.writeTextFile(path, "closes-at 2026-11-26T20:00:00Z\n");
    setNowMs(999);
    assert.deepEqual(await polls.window(), {}, "not re-read within the second");
    setNowMs(1000);
    assert.deepEqual(await polls.window(), { closesAt: WINDOW.closesAt });
    await Deno.writeTextFile(path, "garbage\n");
    setNowMs(2000);
    assert.deepEqual(
      await polls.window(),
      { closesAt: WINDOW.closesAt },
      "a malformed file keeps the last good window",
    );
  });
});

Deno.test("a polls file that turns malformed while serving is reported once per change, and the last good window stays", async () => {
  await using dir = await tempDir("booth-polls-");
  const path = join(dir.path, "polls");
  await Deno.writeTextFile(path, "closes-at 2026-11-26T20:00:00Z\n");
  const reported: string[] = [];
  const polls = await PollsFile.load(path, {
    onUnreadable: (error) => reported.push(error.message),
  });
  await Deno.writeTextFile(path, "closes-at tomorrow\n");
  assert.deepEqual(await polls.current(), { closesAt: WINDOW.closesAt });
  assert.deepEqual(await polls.current(), { closesAt: WINDOW.closesAt });
  assert.equal(reported.length, 1, "once for one change");
  assert.match(
    reported[0],
    /^Cannot read polls file ".*polls": line 1 is not "opens-at <time>"/,
  );
  await Deno.writeTextFile(path, "closes-at 2026-11-26T21:00:00Z\n");
  assert.deepEqual(await polls.current(), {
    closesAt: at("2026-11-26T21:00:00Z"),
  });
  await Deno.writeTextFile(path, "opens-at soon\n");
  assert.deepEqual(await polls.current(), {
    closesAt: at("2026-11-26T21:00:00Z"),
  });
  assert.equal(reported.length, 2, "again once broken again");
});

Deno.test("a slow re-read of the polls file counts from when it started, so a change is seen within the second", async () => {
  await withEmptyPollsFile(async (path, polls, setNowMs) => {
    setNowMs(1000);
    const reading = polls.window();
    setNowMs(1600); // the read took 600 ms
    assert.deepEqual(await reading, {});
    await Deno.writeTextFile(path, "closes-at 2026-11-26T20:00:00Z\n");
    setNowMs(2000);
    assert.deepEqual(await polls.window(), { closesAt: WINDOW.closesAt });
  });
});

Deno.test("the ballot rule refuses every ballot outside the polls, and the result rule opens at the closing", () => {
  const standing = { candidateCount: 2, hasVoted: () => false };
  const ballots = [{ voter: "Alice", choice: 1 }, { voter: "Bob", choice: 9 }];
  const time = at("2026-11-26T12:00:00Z");
  assert.deepEqual(
    decideBallots(ballots, { ...standing, polls: "not-open" }, time).map((o) =>
      o.kind
    ),
    ["polls-not-open", "not-on-ballot"],
  );
  assert.deepEqual(
    decideBallots(ballots, { ...standing, polls: "closed" }, time)[0],
    { kind: "polls-closed" },
  );
  const tally = { registered: 3, voted: 2, totals: [2, 0] };
  assert.deepEqual(resultOf(["Chris", "Linda"], tally, "open"), {
    available: false,
  });
  assert.deepEqual(resultOf(["Chris", "Linda"], tally, "closed"), {
    available: true,
    winners: ["Chris"],
    totals: [
      { candidate: "Chris", votes: 2 },
      { candidate: "Linda", votes: 0 },
    ],
    turnout: { voted: 2, registered: 3 },
  });
});

Deno.test("a polls file that is a symbolic link is refused, naming it", async () => {
  await using dir = await tempDir("booth-polls-");
  const outside = join(dir.path, "outside");
  await Deno.writeTextFile(outside, "closes-at 2026-11-26T20:00:00Z\n");
  const path = join(dir.path, "polls");
  await Deno.symlink(outside, path);
  await assert.rejects(readPollsFile(path), (error: Error) => {
    assert.ok(error instanceof UnsafeFileError);
    assert.match(error.message, /polls.*symbolic link/);
    return true;
  });
});

const SEED = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
  { name: "Tom", number: "1154571", password: "9012" },
];

async function withSession(
  polls: { opensAt?: Date; closesAt?: Date },
  test: (
    store: FileBoothStore,
    session: (voter: (typeof SEED)[number]) => Promise<VoterSession>,
    setNow: (time: Date) => void,
  ) => Promise<void>,
) {
  await using temp = await tempDir("booth-polls-");
  const root = temp.path;
  let now = at("2026-11-26T12:00:00Z");
  const store = await (async () => {
    await createElection(join(root, "data"), {
      voters: SEED,
      candidates: ["Chris", "Linda"],
      polls,
    });
    return await FileBoothStore.open(join(root, "data"), { now: () => now });
  })();
  const verifier = new PasswordVerifier(
    await readElectionKey(join(root, "data")),
  );
  const throttle = new LoginThrottle();
  try {
    await test(
      store,
      async ({ name, number, password }) => {
        const session = new VoterSession(store, {
          verifier,
          throttle,
          address: "127.0.0.1",
          nowMs: () => now.getTime(),
        });
        const step = await session.handle({
          type: "login",
          version: 1,
          name,
          number,
          password,
        });
        assert.equal(step.reply.type === "login" && step.reply.answer, 1);
        return session;
      },
      (time) => now = time,
    );
  } finally {
    await store.close();
  }
}

/** The main menu's choices 1 and 2, as the client sends them. */
const ASK_TO_VOTE = { type: "menu", choice: 1 } as const;
const ASK_FOR_RESULT = { type: "menu", choice: 2 } as const;

/** Asks to vote and casts `choice`; fails the test unless it is recorded. */
async function vote(session: VoterSession, choice: number): Promise<void> {
  const ballot = await session.handle(ASK_TO_VOTE);
  assert.equal(ballot.reply.type === "vote" && ballot.reply.answer, 1);
  const recorded = await session.handle({ type: "ballot", choice });
  assert.equal(recorded.reply.type === "ballot" && recorded.reply.answer, 1);
}

Deno.test("before the opening a vote is answered no with polls-not-open; at the opening the ballot comes", async () => {
  await withSession(
    { opensAt: at("2026-11-26T13:00:00Z") },
    async (_, login, setNow) => {
      const alice = await login(SEED[0]);
      const answer = async () => (await alice.handle(ASK_TO_VOTE)).reply;
      assert.deepEqual(await answer(), {
        type: "vote",
        answer: 0,
        reason: "polls-not-open",
      });
      setNow(at("2026-11-26T13:00:00Z"));
      assert.deepEqual(await answer(), {
        type: "vote",
        answer: 1,
        candidates: ["Chris", "Linda"],
      });
    },
  );
});

Deno.test("a ballot that reaches the store after the closing is refused with polls-closed", async () => {
  await withSession(
    { closesAt: at("2026-11-26T13:00:00Z") },
    async (store, login, setNow) => {
      const alice = await login(SEED[0]);
      await alice.handle(ASK_TO_VOTE);
      setNow(at("2026-11-26T13:00:00Z"));
      const late = await alice.handle({ type: "ballot", choice: 1 });
      assert.deepEqual(late.reply, {
        type: "ballot",
        answer: 0,
        reason: "polls-closed",
      });
      assert.equal((await store.tally()).voted, 0);
      const again = await alice.handle(ASK_TO_VOTE);
      assert.deepEqual(again.reply, {
        type: "vote",
        answer: 0,
        reason: "polls-closed",
      });
    },
  );
});

Deno.test("after the closing the result comes with the turnout; before it, not at all", async () => {
  await withSession(
    { closesAt: at("2026-11-26T13:00:00Z") },
    async (_, login, setNow) => {
      await vote(await login(SEED[0]), 2);
      const alice = await login(SEED[0]);
      const open = await alice.handle(ASK_FOR_RESULT);
      assert.deepEqual(open.reply, { type: "result", answer: 0 });
      setNow(at("2026-11-26T13:00:01Z"));
      const closed = await alice.handle(ASK_FOR_RESULT);
      assert.deepEqual(closed.reply, {
        type: "result",
        answer: 1,
        winners: ["Linda"],
        totals: [{ candidate: "Chris", votes: 0 }, {
          candidate: "Linda",
          votes: 1,
        }],
        turnout: { voted: 1, registered: 3 },
      });
    },
  );
});

Deno.test("when everyone has voted the result is the seed's, without a turnout, closed or not", async () => {
  await withSession(
    { closesAt: at("2026-11-26T13:00:00Z") },
    async (_, login, setNow) => {
      for (const voter of SEED) await vote(await login(voter), 1);
      const voter = await login(SEED[2]);
      const seed = {
        type: "result",
        answer: 1,
        winners: ["Chris"],
        totals: [{ candidate: "Chris", votes: 3 }, {
          candidate: "Linda",
          votes: 0,
        }],
      };
      assert.deepEqual(
        (await voter.handle(ASK_FOR_RESULT)).reply,
        seed,
      );
      setNow(at("2026-11-26T14:00:00Z"));
      assert.deepEqual(
        (await voter.handle(ASK_FOR_RESULT)).reply,
        seed,
      );
    },
  );
});

Deno.test("the polls reasons and the turnout cross the wire; a malformed turnout is a protocol error", () => {
  const messages: ServerMessage[] = [
    { type: "vote", answer: 0, reason: "polls-not-open" },
    { type: "vote", answer: 0, reason: "polls-closed" },
    { type: "ballot", answer: 0, reason: "polls-closed" },
    {
      type: "result",
      answer: 1,
      winners: ["Chris"],
      totals: [{ candidate: "Chris", votes: 1 }],
      turnout: { voted: 1, registered: 3 },
    },
  ];
  for (const message of messages) {
    assert.deepEqual(decodeServerMessage(encodeMessage(message)), message);
  }
  const json = (value: unknown) =>
    new TextEncoder().encode(JSON.stringify(value));
  for (
    const bad of [
      { type: "vote", answer: 0, reason: "polls-ajar" },
      {
        type: "result",
        answer: 1,
        winners: [],
        totals: [],
        turnout: { voted: 4, registered: 3 },
      },
    ]
  ) {
    assert.throws(() => decodeServerMessage(json(bad)), ProtocolError);
  }
});
