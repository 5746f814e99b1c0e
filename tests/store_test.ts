/**
 * The file store: the store contract, then what only files can go through:
 * votes are never lost and never doubled, whatever happens to the process or
 * the disk during a commit.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { generateKey, sealPassword } from "../lib/election/crypto.ts";
import { StorageError } from "../lib/store/booth_store.ts";
import type { BallotOutcome } from "../lib/store/booth_store.ts";
import { JOURNAL_BLOCK_BYTES } from "../lib/election/journal_format.ts";
import { ElectionLockedError } from "../lib/store/election_dir.ts";
import { createElection } from "../lib/store/create_election.ts";
import {
  auditElection,
  inspectElection,
  readElectionKey,
} from "../lib/store/election_state.ts";
import type { ElectionState } from "../lib/store/election_state.ts";
import { denoFileOps } from "../lib/store/file_ops.ts";
import type { FileOps } from "../lib/store/file_ops.ts";
import { FileBoothStore } from "../lib/store/file_store.ts";
import { setClosingTime } from "../lib/store/officials.ts";
import { storeContract } from "./store_contract.ts";
import { tempDir } from "./temp_dir.ts";

storeContract("file store", async ({ voters, candidates, polls }, owned) => {
  const temp = owned.use(await tempDir("booth-contract-"));
  const dir = join(temp.path, "data");
  await createElection(dir, { voters, candidates, polls });
  return {
    key: await readElectionKey(dir),
    store: await FileBoothStore.open(dir),
    reopen: () => FileBoothStore.open(dir),
    closePolls: async (at) => {
      await setClosingTime(dir, at, at);
    },
  };
});

const SEED = [
  { name: "Alice", number: "1123456", password: "1234" },
  { name: "Bob", number: "1138765", password: "5678" },
  { name: "Tom", number: "1154571", password: "9012" },
];
const clock = () => new Date("2026-11-26T03:40:12.789Z");

/** The seed's election in a temporary directory, removed on disposal. */
async function newElection(): Promise<{ dir: string } & AsyncDisposable> {
  const temp = await tempDir("booth-store-");
  const dir = join(temp.path, "data");
  await createElection(dir, { voters: SEED, candidates: ["Chris", "Linda"] });
  return { dir, [Symbol.asyncDispose]: () => temp[Symbol.asyncDispose]() };
}

/** Every file's text; the journal's padding is left out. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    const text = await Deno.readTextFile(join(dir, entry.name));
    files[entry.name] = entry.name === "journal" ? text.trimEnd() : text;
  }
  return files;
}

async function outcomeOf(ballot: Promise<BallotOutcome>): Promise<string> {
  return (await ballot).kind;
}

Deno.test("a vote appends one history line and rewrites result; the journal is blanked in place", async () => {
  await using election = await newElection();
  const { dir } = election;
  {
    await using store = await FileBoothStore.open(dir, { now: clock });
    assert.equal(await outcomeOf(store.recordBallot("Alice", 2)), "recorded");
  }
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 0\nLinda 1\n",
  );
  assert.equal(
    await Deno.readTextFile(join(dir, "history")),
    "Alice 2026-11-26T03:40:12Z\n",
    "history keeps whole seconds",
  );
  assert.equal((await Deno.stat(join(dir, "history"))).mode! & 0o777, 0o600);
  const journal = await Deno.readTextFile(join(dir, "journal"));
  assert.equal(journal, " ".repeat(JOURNAL_BLOCK_BYTES), "a blank journal");
  await using reopened = await FileBoothStore.open(dir);
  assert.deepEqual(await reopened.voteOf("Alice"), {
    voter: "Alice",
    time: new Date("2026-11-26T03:40:12Z"),
  });
});

Deno.test("ballots waiting together are committed in one group, each voter once", async () => {
  await using election = await newElection();
  const real = denoFileOps();
  let appends = 0;
  const ops: FileOps = {
    ...real,
    append: (path, text) => {
      appends++;
      real.append(path, text);
    },
  };
  const store = await FileBoothStore.open(election.dir, { ops });
  const outcomes = await Promise.all([
    outcomeOf(store.recordBallot("Alice", 1)),
    outcomeOf(store.recordBallot("Bob", 2)),
    outcomeOf(store.recordBallot("Tom", 1)),
    outcomeOf(store.recordBallot("Tom", 2)),
    outcomeOf(store.recordBallot("Tom", 3)),
  ]);
  await store.close();
  assert.deepEqual(outcomes, [
    "recorded",
    "recorded",
    "recorded",
    "already-voted",
    "not-on-ballot",
  ]);
  assert.ok(appends <= 2, `expected group commits, saw ${appends} appends`);
  assert.equal(
    await Deno.readTextFile(join(election.dir, "result")),
    "Chris 2\nLinda 1\n",
  );
});

Deno.test("a store holds the election's lock until it is closed", async () => {
  await using election = await newElection();
  const first = await FileBoothStore.open(election.dir);
  await assert.rejects(FileBoothStore.open(election.dir), ElectionLockedError);
  await first.close();
  await (await FileBoothStore.open(election.dir)).close();
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
      alive(() => {
        using file = Deno.openSync(path, { write: true, create: true });
        file.writeSync(new TextEncoder().encode(half(text)));
      });
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
        await using store = await FileBoothStore.open(dir);
        await store.recordBallot("Bob", 2);
      };
      // How many operations a whole commit takes, measured, not assumed.
      await using probe = await newElection();
      if (earlierVote) await castEarlierVote(probe.dir);
      const opening = dyingOps(Infinity);
      await (await FileBoothStore.open(probe.dir, { ops: opening })).close();
      const counting = dyingOps(Infinity);
      const probeStore = await FileBoothStore.open(probe.dir, {
        ops: counting,
      });
      const opensOps = counting.count;
      await probeStore.recordBallot("Alice", 1);
      await probeStore.close();
      const commitOps = counting.count - opensOps;
      assert.ok(commitOps >= 8, `a commit takes ${commitOps} operations`);

      for (let crashAt = 0; crashAt <= commitOps; crashAt++) {
        await using election = await newElection();
        const { dir } = election;
        if (earlierVote) await castEarlierVote(dir);
        await (await FileBoothStore.open(dir)).close();
        const before = await snapshot(dir);
        const ops = dyingOps(opensOps + crashAt);
        const store = await FileBoothStore.open(dir, { ops });
        let acknowledged = false;
        try {
          acknowledged =
            await outcomeOf(store.recordBallot("Alice", 1)) === "recorded";
        } catch (error) {
          assert.ok(error instanceof StorageError, String(error));
        }
        // The process died: its files close, nothing more is written.
        ops.close();
        // Restart: recovery runs on the real file system.
        await using restarted = await FileBoothStore.open(dir);
        const after = await snapshot(dir);
        const aliceCounted = await restarted.hasVoted("Alice");
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
        assert.equal(
          await outcomeOf(restarted.recordBallot("Alice", 2)),
          expected,
          where,
        );
        assert.equal(
          await outcomeOf(restarted.recordBallot("Tom", 2)),
          "recorded",
          where,
        );
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
  await using election = await newElection();
  const { dir } = election;
  {
    await using setup = await FileBoothStore.open(dir);
    await setup.recordBallot("Bob", 2);
  }
  const real = denoFileOps();
  let failing: "journal" | "history" | "result" | "sync" | undefined;
  const diskFull = () => {
    throw new Error("No space left on device (os error 28)");
  };
  const ops: FileOps = {
    ...real,
    overwrite: (path, text) =>
      (failing === "journal" && path.endsWith("journal") &&
          text.trim() !== "") ||
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
  await using store = await FileBoothStore.open(dir, { ops });
  const before = await snapshot(dir);
  for (const where of ["journal", "history", "result", "sync"] as const) {
    failing = where;
    await assert.rejects(store.recordBallot("Alice", 1), (error: Error) => {
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
    assert.equal(await store.hasVoted("Alice"), false);
  }
  failing = undefined;
  assert.equal(await outcomeOf(store.recordBallot("Alice", 1)), "recorded");
  await store.close();
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 1\nLinda 1\n",
  );
});

Deno.test("a failed sync at the commit point refuses the vote and undoes it: the voter's next ballot counts once", async () => {
  await using election = await newElection();
  const { dir } = election;
  const real = denoFileOps();
  let armed = false;
  let blanked = false;
  const ops: FileOps = {
    ...real,
    overwrite: (path, text) => {
      if (path.endsWith("journal")) blanked = text.trim() === "";
      real.overwrite(path, text);
    },
    // The sync of the blanked journal fails once: the blank text is in the
    // page cache, the vote in history and result.
    sync: (path) => {
      if (armed && blanked && path.endsWith("journal")) {
        armed = false;
        return Promise.reject(new Error("Input/output error (os error 5)"));
      }
      return real.sync(path);
    },
  };
  await using store = await FileBoothStore.open(dir, { ops });
  const before = await snapshot(dir);
  armed = true;
  await assert.rejects(store.recordBallot("Alice", 1), StorageError);
  assert.equal(armed, false, "the commit point's sync was reached");
  assert.deepEqual(await snapshot(dir), before, "files keep the failed vote");
  assert.equal(await store.hasVoted("Alice"), false);
  assert.equal(await outcomeOf(store.recordBallot("Alice", 2)), "recorded");
  await store.close();
  const { problems, state } = await inspectElection(dir);
  assert.deepEqual(problems, []);
  assert.deepEqual(state.history.map((entry) => entry.name), ["Alice"]);
  assert.deepEqual(state.totals, [0, 1]);
});

Deno.test("a failed rollback is finished before the next commit writes anything", async () => {
  await using election = await newElection();
  const { dir } = election;
  const real = denoFileOps();
  let broken = false;
  const ops: FileOps = {
    ...real,
    // Blanking the journal (the commit point, and rollback's last step) fails.
    overwrite: (path, text) => {
      if (broken && path.endsWith("journal") && text.trim() === "") {
        throw new Error("Input/output error (os error 5)");
      }
      real.overwrite(path, text);
    },
  };
  await using store = await FileBoothStore.open(dir, { ops });
  broken = true;
  await assert.rejects(store.recordBallot("Tom", 1), StorageError);
  assert.notEqual(
    (await snapshot(dir)).journal,
    "",
    "the journal stays for recovery",
  );
  broken = false;
  assert.equal(await outcomeOf(store.recordBallot("Alice", 2)), "recorded");
  await store.close();
  assert.equal(
    await Deno.readTextFile(join(dir, "result")),
    "Chris 0\nLinda 1\n",
  );
  assert.equal(await store.hasVoted("Tom"), false);
  assert.deepEqual((await inspectElection(dir)).problems, []);
});

Deno.test("a torn journal, written when a crash came, is discarded at start", async () => {
  await using election = await newElection();
  const { dir } = election;
  await (await FileBoothStore.open(dir)).close();
  const before = await snapshot(dir);
  await Deno.writeTextFile(join(dir, "journal"), '3f2a {"historyBytes":nu');
  assert.equal((await inspectElection(dir)).interruptedVote, true);
  await (await FileBoothStore.open(dir)).close();
  assert.deepEqual(await snapshot(dir), before);
});

Deno.test("the audit finds every kind of inconsistency, naming file and line", () => {
  const key = generateKey();
  const voter = (name: string, number: string, line: number) => ({
    name,
    number,
    sealed: sealPassword(key, { name, number }, "1234"),
    line,
  });
  const paths = {
    passwords: "data/passwords",
    result: "data/result",
    history: "data/history",
  };
  const consistent: ElectionState = {
    key,
    voters: [voter("Alice", "1123456", 1), voter("Bob", "1138765", 2)],
    candidates: ["Chris", "Linda"],
    totals: [0, 0],
    history: [],
  };
  assert.deepEqual(auditElection(consistent, paths), []);
  const state = structuredClone(consistent);
  state.voters[1].sealed = state.voters[0].sealed;
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

Deno.test("after 60 votes on an ext4 disk, the raw image holds one set of totals, the final one (root)", async () => {
  await using temp = await tempDir("booth-image-");
  let final: string;
  let image: string;
  {
    await using disk = await mountExt4(temp.path, 16 << 20);
    image = disk.image;
    const dir = join(disk.path, "data");
    const voters = Array.from({ length: 60 }, (_, i) => ({
      name: `Voter${i}`,
      number: String(1_000_000 + i),
      password: "1234",
    }));
    await createElection(dir, { voters, candidates: ["Chris", "Linda"] });
    await using store = await FileBoothStore.open(dir);
    // One commit per vote: 60 different sets of totals pass through
    // `result` and the journal.
    for (const [i, voter] of voters.entries()) {
      await store.recordBallot(voter.name, i % 3 === 0 ? 1 : 2);
    }
    await store.close();
    final = await Deno.readTextFile(join(dir, "result"));
  }
  const raw = new TextDecoder("latin1").decode(await Deno.readFile(image));
  const results = [...raw.matchAll(/Chris \d+\nLinda \d+\n/g)].map((m) => m[0]);
  // The journal holds `result` as a JSON string: newlines escaped.
  const journals = [...raw.matchAll(/Chris \d+\\nLinda \d+\\n/g)];
  console.log(
    `ext4 image after 60 votes: ${results.length} copy of result's totals, ${journals.length} journal copies`,
  );
  assert.equal(final, "Chris 20\nLinda 40\n");
  assert.deepEqual(results, [final]);
  assert.equal(journals.length, 0, "earlier totals left in the journal");
});

/** Runs a system command; returns its stdout, throws with its stderr. */
async function command(program: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(program, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (code !== 0) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${decoder.decode(stderr)}`,
    );
  }
  return decoder.decode(stdout);
}

/** An ext4 file system of its own, mounted until disposed. */
interface Ext4Mount extends AsyncDisposable {
  /** The mount point. */
  readonly path: string;
  /** The image file that holds the file system (read it raw once disposed). */
  readonly image: string;
}

/**
 * Makes an ext4 image of `bytes` in `dir`, attaches it to a loop device of
 * its own and mounts it on `dir`/mnt. Disposing unmounts it and detaches that
 * device, and only that one, whatever went wrong before: test runs that share
 * the machine's loop devices never see each other's.
 */
async function mountExt4(dir: string, bytes: number): Promise<Ext4Mount> {
  const image = join(dir, "ext4.img");
  const path = join(dir, "mnt");
  await Deno.mkdir(path);
  {
    using file = await Deno.open(image, { write: true, create: true });
    await file.truncate(bytes);
  }
  await command("mkfs.ext4", ["-q", "-F", image]);
  const device = await attachLoopDevice(image);
  try {
    await command("mount", ["-t", "ext4", device, path]);
  } catch (error) {
    await command("losetup", ["--detach", device]);
    throw error;
  }
  let mounted = true;
  return {
    path,
    image,
    async [Symbol.asyncDispose]() {
      if (!mounted) return;
      mounted = false;
      try {
        await unmount(path);
      } finally {
        await command("losetup", ["--detach", device]);
      }
    },
  };
}

/** How often a loop device is asked for before the test gives up. */
const LOOP_ATTEMPTS = 5;

/**
 * Attaches `image` to a free loop device and returns the device. Between
 * losetup finding a free device and configuring it, another run may take
 * that device (losetup then fails, the device busy), so a failure is tried
 * again with a fresh search, a few times.
 */
async function attachLoopDevice(image: string): Promise<string> {
  for (let attempt = 1;; attempt++) {
    try {
      return (await command("losetup", ["--find", "--show", image])).trim();
    } catch (error) {
      if (attempt === LOOP_ATTEMPTS) throw error;
    }
  }
}

/**
 * Unmounts `path`; if that fails, detaches it lazily so that no mount is
 * left behind, then reports the failure.
 */
async function unmount(path: string): Promise<void> {
  try {
    await command("umount", [path]);
  } catch (error) {
    await command("umount", ["--lazy", path]);
    throw error;
  }
}
