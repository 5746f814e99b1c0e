/**
 * `server close` against a running store: a vote the store decided on the
 * old `polls` file agrees with the closing time that `server verify` checks,
 * and the result shown after the closing waits for a vote still being
 * written. (That no ballot counts once close has returned is in the store
 * contract, for every store.) The store's clock is injected; `server close`
 * runs in this process, on the same files.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createElection } from "../lib/store/create_election.ts";
import { inspectElection } from "../lib/store/election_state.ts";
import { FileBoothStore } from "../lib/store/file_store.ts";
import { setClosingTime } from "../lib/store/officials.ts";
import { reportElection } from "../lib/store/report.ts";
import { readPollsFile } from "../lib/store/polls_file.ts";
import { denoFileOps } from "../lib/store/file_ops.ts";
import type { FileOps } from "../lib/store/file_ops.ts";
import { formatPolls } from "../lib/election/polls.ts";
import { PasswordVerifier } from "../lib/election/booth.ts";
import { readElectionKey } from "../lib/store/election_state.ts";
import { LoginThrottle } from "../lib/server/login_throttle.ts";
import { VoterSession } from "../lib/server/session.ts";
import { tempDir } from "./temp_dir.ts";
import { CLOSED_ON_ONE_VOTE_FOR_CHRIS } from "./sessions.ts";

const SEED = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
  { name: "Tom", number: "1154571", password: "9012" },
];

async function election(root: string): Promise<string> {
  const dir = join(root, "data");
  await createElection(dir, { voters: SEED, candidates: ["Chris", "Linda"] });
  return dir;
}

Deno.test("a vote decided on the polls file before server close replaced it moves the closing time after that vote, so verify agrees", async () => {
  await using temp = await tempDir("booth-closing-");
  const dir = await election(temp.path);
  // The store's vote lands 3 s after the closing time close is asked for,
  // as a commit that read the old file while close was writing does.
  const asked = new Date(Math.floor(Date.now() / 1000) * 1000);
  const voteMs = asked.getTime() + 3000;
  {
    await using store = await FileBoothStore.open(dir, {
      now: () => new Date(voteMs),
    });
    assert.equal((await store.recordBallot("Alice", 1)).kind, "recorded");
    const closed = await setClosingTime(dir, asked, asked);
    assert.ok(
      closed.closesAt.getTime() > voteMs,
      `closing ${closed.closesAt.toISOString()} after the vote`,
    );
    assert.deepEqual(await readPollsFile(join(dir, "polls")), {
      closesAt: closed.closesAt,
    });
  }
  assert.deepEqual((await inspectElection(dir)).problems, []);
});

/** File operations whose sync of `history` waits until released. */
function gatedOps() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let syncing!: () => void;
  const reachedSync = new Promise<void>((resolve) => syncing = resolve);
  const real = denoFileOps();
  const ops: FileOps = {
    ...real,
    async sync(path) {
      if (path.endsWith("history")) {
        syncing();
        await gate;
      }
      await real.sync(path);
    },
  };
  return { ops, reachedSync, release };
}

Deno.test("once the polls are closed, View election result waits for a vote decided before the closing and still being written", async () => {
  await using temp = await tempDir("booth-closing-");
  const dir = await election(temp.path);
  const { ops, reachedSync, release } = gatedOps();
  let nowMs = Date.now();
  await using store = await FileBoothStore.open(dir, {
    ops,
    now: () => new Date(nowMs),
  });
  const bob = new VoterSession(store, {
    verifier: new PasswordVerifier(await readElectionKey(dir)),
    throttle: new LoginThrottle(),
    address: "127.0.0.1",
    nowMs: () => nowMs,
  });
  const login = await bob.handle({
    type: "login",
    version: 1,
    name: "Bob",
    number: "1138765",
    password: "5678",
  });
  assert.equal(login.reply.type === "login" && login.reply.answer, 1);
  const recording = store.recordBallot("Alice", 1);
  await reachedSync;
  await Deno.writeTextFile(
    join(dir, "polls"),
    formatPolls({ closesAt: new Date(nowMs + 500) }),
  );
  nowMs += 2000; // past the closing and the menu cache's second
  const shown = bob.handle({ type: "menu", choice: 2 });
  release();
  assert.deepEqual((await shown).reply, CLOSED_ON_ONE_VOTE_FOR_CHRIS);
  assert.equal((await recording).kind, "recorded");
});

Deno.test("server report after the closing waits for the vote a running server is still writing, so its totals are final", async () => {
  await using temp = await tempDir("booth-closing-");
  const dir = await election(temp.path);
  const { ops, reachedSync, release } = gatedOps();
  const voteMs = Date.now() - 60_000;
  await using store = await FileBoothStore.open(dir, {
    ops,
    now: () => new Date(voteMs),
  });
  const recording = store.recordBallot("Alice", 1);
  await reachedSync;
  // The vote was decided a minute ago; the polls closed since.
  await Deno.writeTextFile(
    join(dir, "polls"),
    formatPolls({ closesAt: new Date(voteMs + 1000) }),
  );
  const reported = reportElection(dir, new Date());
  release();
  const summary = await reported;
  assert.equal(summary.state, "closed");
  assert.deepEqual(
    [summary.voted, summary.result?.candidates.map((c) => c.votes)],
    [1, [1, 0]],
  );
  assert.equal((await recording).kind, "recorded");
});
