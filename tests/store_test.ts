/**
 * The one writer: votes are never lost and never doubled, whatever happens
 * to the process or the disk during a commit.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { denoFileOps } from "../lib/store/file_ops.ts";
import type { FileOps } from "../lib/store/file_ops.ts";
import {
  createElection,
  ElectionStore,
  inspectElection,
  StorageError,
} from "../lib/store/store.ts";

const SEED = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
  { name: "Tom", number: "1154571", password: "9012" },
];
const clock = () => new Date("2026-11-26T03:40:12Z");

async function newElection(): Promise<string> {
  const dir = join(await Deno.makeTempDir({ prefix: "booth-store-" }), "data");
  await createElection(dir, { voters: SEED, candidates: ["Chris", "Linda"] });
  return dir;
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    files[entry.name] = await Deno.readTextFile(join(dir, entry.name));
  }
  return files;
}

Deno.test("a vote appends one history line and rewrites result; a restart keeps both", async () => {
  const dir = await newElection();
  const store = await ElectionStore.open(dir, { now: clock });
  assert.equal(await store.recordVote("Alice", 2), "recorded");
  await store.close();
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 0\nLinda 1\n",
  );
  assert.equal(
    await Deno.readTextFile(join(dir, "history")),
    "Alice 2026-11-26T03:40:12Z\n",
  );
  assert.equal((await Deno.stat(join(dir, "history"))).mode! & 0o777, 0o600);
  assert.equal(
    await Deno.readTextFile(join(dir, "journal")),
    "",
    "the journal is empty after a commit",
  );
  const reopened = await ElectionStore.open(dir);
  assert.equal(reopened.election.hasVoted("Alice"), true);
  assert.deepEqual(reopened.election.totals, [0, 1]);
  assert.equal(await reopened.recordVote("Alice", 1), "already-voted");
  await reopened.close();
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 0\nLinda 1\n",
  );
});

Deno.test("twenty racing ballots of one voter give exactly one vote", async () => {
  const dir = await newElection();
  const store = await ElectionStore.open(dir);
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, (_, i) => store.recordVote("Bob", 1 + (i % 2))),
  );
  await store.close();
  assert.equal(outcomes.filter((o) => o === "recorded").length, 1);
  assert.equal(outcomes.filter((o) => o === "already-voted").length, 19);
  const history = await Deno.readTextFile(join(dir, "history"));
  assert.equal(history.split("\n").filter(Boolean).length, 1);
  const { problems, state } = await inspectElection(dir);
  assert.deepEqual(problems, []);
  assert.equal(state.totals[0] + state.totals[1], 1);
});

Deno.test("ballots waiting together are committed in one group, each voter once", async () => {
  const dir = await newElection();
  const real = denoFileOps();
  let appends = 0;
  const ops: FileOps = {
    ...real,
    append: (path, text) => {
      appends++;
      real.append(path, text);
    },
  };
  const store = await ElectionStore.open(dir, { ops });
  const outcomes = await Promise.all([
    store.recordVote("Alice", 1),
    store.recordVote("Bob", 2),
    store.recordVote("Tom", 1),
    store.recordVote("Tom", 2),
  ]);
  await store.close();
  assert.deepEqual(outcomes, [
    "recorded",
    "recorded",
    "recorded",
    "already-voted",
  ]);
  assert.ok(appends <= 2, `expected group commits, saw ${appends} appends`);
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 2\nLinda 1\n",
  );
});

/** Thrown by a {@linkcode dyingOps} that has reached its crash point. */
class SimulatedCrash extends Error {}

/**
 * File operations that stop working, as a killed process does, after
 * `survive` writing operations. The write at the crash point is torn: half
 * its text reaches the file.
 */
function dyingOps(survive: number): FileOps & { count: number } {
  const real = denoFileOps();
  let count = 0;
  const alive = (tear?: () => void) => {
    if (count++ < survive) return;
    if (count - 1 === survive) tear?.();
    throw new SimulatedCrash(`crashed at operation ${survive}`);
  };
  const half = (text: string) => text.slice(0, Math.floor(text.length / 2));
  return {
    get count() {
      return count;
    },
    readText: (path) => real.readText(path),
    size: (path) => real.size(path),
    overwrite(path, text) {
      // Torn: the first half lands over the old content, nothing is cut.
      alive(() =>
        Deno.writeTextFileSync(path, half(text), {
          create: true,
          append: false,
        })
      );
      real.overwrite(path, text);
    },
    append(path, text) {
      alive(() => Deno.writeTextFileSync(path, half(text), { append: true }));
      real.append(path, text);
    },
    truncate(path, bytes) {
      alive();
      real.truncate(path, bytes);
    },
    async sync(path) {
      alive();
      await real.sync(path);
    },
    async writeSynced(path, text) {
      alive(() => Deno.writeTextFileSync(path, half(text)));
      await real.writeSynced(path, text);
    },
    async rename(from, to) {
      alive();
      await real.rename(from, to);
    },
    async remove(path) {
      alive();
      await real.remove(path);
    },
    async syncDir(dir) {
      alive();
      await real.syncDir(dir);
    },
    lock: (path) => real.lock(path),
    close: () => real.close(),
  };
}

for (const earlierVote of [false, true]) {
  Deno.test(
    `a crash at every step of a commit leaves both changes or neither (${
      earlierVote ? "history exists" : "first vote creates history"
    })`,
    async () => {
      const castEarlierVote = async (dir: string) => {
        const store = await ElectionStore.open(dir);
        await store.recordVote("Bob", 2);
        await store.close();
      };
      // How many operations a whole commit takes, measured, not assumed.
      const probe = await newElection();
      if (earlierVote) await castEarlierVote(probe);
      const opening = dyingOps(Infinity);
      await (await ElectionStore.open(probe, { ops: opening })).close();
      const counting = dyingOps(Infinity);
      const probeStore = await ElectionStore.open(probe, { ops: counting });
      const opensOps = counting.count;
      await probeStore.recordVote("Alice", 1);
      await probeStore.close();
      const commitOps = counting.count - opensOps;
      assert.ok(commitOps >= 8, `a commit takes ${commitOps} operations`);

      for (let crashAt = 0; crashAt <= commitOps; crashAt++) {
        const dir = await newElection();
        if (earlierVote) await castEarlierVote(dir);
        await (await ElectionStore.open(dir)).close();
        const before = await snapshot(dir);
        const ops = dyingOps(opensOps + crashAt);
        const store = await ElectionStore.open(dir, { ops });
        let acknowledged = false;
        try {
          acknowledged = await store.recordVote("Alice", 1) === "recorded";
        } catch (error) {
          assert.ok(error instanceof StorageError, String(error));
        }
        ops.close();
        // Restart: recovery runs on the real file system.
        const restarted = await ElectionStore.open(dir);
        const after = await snapshot(dir);
        const aliceCounted = restarted.election.hasVoted("Alice");
        const where = `crash after ${crashAt} of ${commitOps} operations`;
        if (acknowledged) {
          assert.ok(aliceCounted, `${where}: an acknowledged vote was lost`);
        }
        if (aliceCounted) {
          assert.equal(
            after.result,
            earlierVote ? "Chris 1\nLinda 1\n" : "Chris 1\nLinda 0\n",
            where,
          );
          assert.match(after.history, /Alice 2026-\S+\n$/, where);
        } else {
          assert.deepEqual(
            after,
            before,
            `${where}: files differ from before the vote`,
          );
        }
        assert.equal(after.journal, "", `${where}: journal left behind`);
        assert.deepEqual((await inspectElection(dir)).problems, [], where);
        // After recovery the store keeps working: Alice's vote counts once,
        // Tom votes, and the files still agree line for line.
        const expected = aliceCounted ? "already-voted" : "recorded";
        assert.equal(await restarted.recordVote("Alice", 2), expected, where);
        assert.equal(await restarted.recordVote("Tom", 2), "recorded", where);
        await restarted.close();
        const final = await inspectElection(dir);
        assert.deepEqual(final.problems, [], `${where}, after more votes`);
        assert.deepEqual(
          final.state.history.map((entry) => entry.name),
          [...(earlierVote ? ["Bob"] : []), "Alice", "Tom"],
          where,
        );
      }
    },
  );
}

Deno.test("a write failure refuses the vote, changes no file, and the store keeps serving", async () => {
  const dir = await newElection();
  const setup = await ElectionStore.open(dir);
  await setup.recordVote("Bob", 2);
  await setup.close();
  const real = denoFileOps();
  let failing: "journal" | "history" | "result" | "sync" | undefined;
  const diskFull = () => {
    throw new Error("No space left on device (os error 28)");
  };
  const ops: FileOps = {
    ...real,
    overwrite: (path, text) =>
      (failing === "journal" && path.endsWith("journal") && text !== "") ||
        (failing === "result" && path.endsWith("result"))
        ? diskFull()
        : real.overwrite(path, text),
    append: (path, text) =>
      failing === "history" ? diskFull() : real.append(path, text),
    // A one-off failure, as when the disk briefly filled: the rollback's
    // own sync succeeds. (A failure that persists is the next test.)
    sync: (path) => {
      if (failing === "sync" && path.endsWith("history")) {
        failing = undefined;
        return Promise.reject(new Error("Input/output error (os error 5)"));
      }
      return real.sync(path);
    },
  };
  const store = await ElectionStore.open(dir, { ops });
  const before = await snapshot(dir);
  for (const where of ["journal", "history", "result", "sync"] as const) {
    failing = where;
    await assert.rejects(store.recordVote("Alice", 1), (error: Error) => {
      assert.ok(error instanceof StorageError);
      assert.match(
        error.message,
        /No space left on device|Input\/output error/,
      );
      return true;
    });
    assert.deepEqual(
      await snapshot(dir),
      before,
      `files changed after a failed ${where}`,
    );
    assert.equal(store.election.hasVoted("Alice"), false);
  }
  failing = undefined;
  assert.equal(await store.recordVote("Alice", 1), "recorded");
  await store.close();
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 1\nLinda 1\n",
  );
});

Deno.test("a failed rollback is finished before the next commit writes anything", async () => {
  const dir = await newElection();
  const real = denoFileOps();
  let broken = false;
  const ops: FileOps = {
    ...real,
    // Emptying the journal (the commit point, and rollback's last step) fails.
    overwrite: (path, text) => {
      if (broken && path.endsWith("journal") && text === "") {
        throw new Error("Input/output error (os error 5)");
      }
      real.overwrite(path, text);
    },
  };
  const store = await ElectionStore.open(dir, { ops });
  broken = true;
  await assert.rejects(store.recordVote("Tom", 1), StorageError);
  assert.notEqual(
    (await snapshot(dir)).journal,
    "",
    "the journal stays for recovery",
  );
  broken = false;
  assert.equal(await store.recordVote("Alice", 2), "recorded");
  await store.close();
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 0\nLinda 1\n",
  );
  assert.equal(store.election.hasVoted("Tom"), false);
  assert.deepEqual((await inspectElection(dir)).problems, []);
});

Deno.test("a torn journal, written when a crash came, is discarded at start", async () => {
  const dir = await newElection();
  await (await ElectionStore.open(dir)).close();
  const before = await snapshot(dir);
  await Deno.writeTextFile(join(dir, "journal"), '3f2a {"historyBytes":nu');
  assert.equal((await inspectElection(dir)).interruptedVote, true);
  const store = await ElectionStore.open(dir);
  await store.close();
  assert.deepEqual(await snapshot(dir), before);
});
