/**
 * The store seam's contract, written once: every {@linkcode BoothStore}
 * implementation (the file store, the PostgreSQL store) registers these
 * tests with its own factory and must pass all of them.
 *
 * A factory receives a fresh election (voters with clear passwords,
 * candidates and, for some tests, the polls' opening and closing times) and
 * a stack for what it creates (removed after the test, even when it fails),
 * and returns the open store, the key K it sealed the passwords with, a way
 * to open the same election again (a restart) and a way to close the polls
 * from outside the store (as `server close` does):
 *
 * ```ts
 * import { createElection } from "../lib/store/create_election.ts";
 * import { readElectionKey } from "../lib/store/election_state.ts";
 * import { FileBoothStore } from "../lib/store/file_store.ts";
 * import { setClosingTime } from "../lib/store/officials.ts";
 *
 * storeContract("file store", async ({ voters, candidates, polls }, owned) => {
 *   const dir = await Deno.makeTempDir();
 *   owned.defer(() => Deno.remove(dir, { recursive: true }));
 *   await createElection(`${dir}/data`, { voters, candidates, polls });
 *   return {
 *     store: await FileBoothStore.open(`${dir}/data`),
 *     key: await readElectionKey(`${dir}/data`),
 *     reopen: () => FileBoothStore.open(`${dir}/data`),
 *     closePolls: async (at) => {
 *       await setClosingTime(`${dir}/data`, at, at);
 *     },
 *   };
 * });
 * ```
 *
 * Each test closes every store it is given (`store` and each `reopen()`),
 * then disposes of the factory's stack, even when it fails.
 */

import assert from "node:assert/strict";
import { PasswordVerifier } from "../lib/election/booth.ts";
import type { RollEntry } from "../lib/election/election_files.ts";
import type { PollsWindow } from "../lib/election/polls.ts";
import { StorageError } from "../lib/store/booth_store.ts";
import type { BoothStore } from "../lib/store/booth_store.ts";

/** The election a factory creates for one test. */
export interface ContractElection {
  /** The voter roll, passwords in clear, for the factory to seal with K. */
  voters: RollEntry[];
  /** The candidates in ballot order. */
  candidates: string[];
  /** When the polls open and close (none: open at once, never closed). */
  polls?: PollsWindow;
}

/** What a factory returns: a fresh election, open. */
export interface StoreUnderTest {
  /** The store, open; the test closes it. */
  store: BoothStore;
  /** The election key K the passwords were sealed with. */
  key: Uint8Array;
  /** Opens the same election again, as a restarted server would. */
  reopen(): Promise<BoothStore>;
  /** Closes the polls at `at` from outside the store, as `server close` does. */
  closePolls(at: Date): Promise<void>;
}

/**
 * Creates a fresh election with the given voters and candidates; what it
 * creates for the election (a directory, a database) it puts on `owned`,
 * disposed of once the test's stores are closed.
 */
export type StoreFactory = (
  election: ContractElection,
  owned: AsyncDisposableStack,
) => Promise<StoreUnderTest>;

const SEED: ContractElection = {
  voters: [
    { name: "Alice", number: "1123456", password: "1234" },
    { name: "Bob", number: "1138765", password: "5678" },
    { name: "Tom", number: "1154571", password: "9012" },
  ],
  candidates: ["Chris", "Linda"],
};

/**
 * Registers the contract's tests for one implementation.
 *
 * @param name The implementation's name, prefixed to each test's name.
 * @param factory Creates a fresh election for each test.
 */
export function storeContract(name: string, factory: StoreFactory): void {
  const test = (
    title: string,
    body: (under: StoreUnderTest, opened: BoothStore[]) => Promise<void>,
    election: ContractElection = SEED,
  ) =>
    Deno.test(`${name}: ${title}`, async () => {
      await using owned = new AsyncDisposableStack();
      const under = await factory(election, owned);
      const opened = [under.store];
      try {
        await body(under, opened);
      } finally {
        for (const store of opened) await store.close();
      }
    });
  const reopen = async (under: StoreUnderTest, opened: BoothStore[]) => {
    await under.store.close();
    const store = await under.reopen();
    opened.push(store);
    return store;
  };

  test("finds a voter by registration number, with an entry that K verifies", async ({ store, key }) => {
    const verifier = new PasswordVerifier(key);
    const alice = await store.findVoter("1123456");
    assert.equal(alice?.name, "Alice");
    assert.equal(alice?.number, "1123456");
    assert.equal(verifier.verify(alice, "Alice", "1234"), "Alice");
    assert.equal(verifier.verify(alice, "Alice", "5678"), undefined);
    assert.equal((await store.findVoter("1154571"))?.name, "Tom");
    assert.equal(await store.findVoter("9999999"), undefined);
  });

  const hour = 3_600_000;
  const closed = {
    opensAt: new Date(Date.now() - 2 * hour),
    closesAt: new Date(Date.now() - hour),
  };
  test(
    "gives the polls window the election was created with",
    async ({ store }) => {
      assert.deepEqual(await store.pollsWindow(), closed);
    },
    { ...SEED, polls: closed },
  );

  const refusals = [
    {
      when: "after the closing",
      polls: closed,
      kind: "polls-closed",
    },
    {
      when: "before the opening",
      polls: { opensAt: new Date(Date.now() + hour) },
      kind: "polls-not-open",
    },
  ];
  for (const { when, polls, kind } of refusals) {
    test(
      `refuses a ballot ${when} with ${kind}, recording nothing`,
      async ({ store }) => {
        assert.deepEqual(await store.recordBallot("Alice", 1), { kind });
        assert.equal((await store.tally()).voted, 0);
        assert.equal(await store.hasVoted("Alice"), false);
      },
      { ...SEED, polls },
    );
  }

  test("a ballot after the polls were closed from outside is refused, even within the second the store caches the polls window", async (under) => {
    const { store } = under;
    assert.equal((await store.recordBallot("Alice", 1)).kind, "recorded");
    assert.deepEqual(await store.pollsWindow(), {}, "cached: never closes");
    await under.closePolls(new Date());
    assert.deepEqual(await store.recordBallot("Bob", 2), {
      kind: "polls-closed",
    });
    assert.deepEqual(await store.tally(), {
      registered: 3,
      voted: 1,
      totals: [1, 0],
    });
  });

  test("lists the candidates in ballot order", ({ store }) => {
    assert.deepEqual([...store.candidates], ["Chris", "Linda"]);
    return Promise.resolve();
  });

  test("a recorded ballot shows in has-voted, the voter's own record and the tally", async ({ store }) => {
    assert.deepEqual(await store.tally(), {
      registered: 3,
      voted: 0,
      totals: [0, 0],
    });
    assert.equal(await store.hasVoted("Alice"), false);
    assert.equal(await store.voteOf("Alice"), undefined);
    const before = Date.now();
    const outcome = await store.recordBallot("Alice", 2);
    const after = Date.now();
    assert.equal(outcome.kind, "recorded");
    assert.equal(outcome.kind === "recorded" && outcome.record.voter, "Alice");
    assert.equal(await store.hasVoted("Alice"), true);
    assert.equal(await store.hasVoted("Bob"), false);
    const record = await store.voteOf("Alice");
    assert.equal(record?.voter, "Alice");
    const time = record!.time.getTime();
    // Stores may keep whole seconds only.
    assert.ok(
      time >= before - 1000 && time <= after,
      `vote time ${record!.time.toISOString()}`,
    );
    assert.deepEqual(await store.tally(), {
      registered: 3,
      voted: 1,
      totals: [0, 1],
    });
  });

  test("a second ballot of the same voter is already-voted and changes nothing", async ({ store }) => {
    assert.equal((await store.recordBallot("Bob", 1)).kind, "recorded");
    const record = await store.voteOf("Bob");
    assert.deepEqual(await store.recordBallot("Bob", 2), {
      kind: "already-voted",
    });
    assert.deepEqual(await store.voteOf("Bob"), record);
    assert.deepEqual((await store.tally()).totals, [1, 0]);
  });

  test("a choice off the ballot is not-on-ballot and changes nothing", async ({ store }) => {
    for (const choice of [0, 3, -1, 1.5]) {
      assert.deepEqual(
        await store.recordBallot("Tom", choice),
        { kind: "not-on-ballot" },
        `choice ${choice}`,
      );
    }
    assert.equal(await store.hasVoted("Tom"), false);
    assert.deepEqual(await store.tally(), {
      registered: 3,
      voted: 0,
      totals: [0, 0],
    });
  });

  test("twenty racing ballots of one voter give exactly one vote", async ({ store }) => {
    const outcomes = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => store.recordBallot("Bob", 1 + (i % 2)),
      ),
    );
    const kinds = outcomes.map((o) => o.kind);
    assert.equal(kinds.filter((k) => k === "recorded").length, 1);
    assert.equal(kinds.filter((k) => k === "already-voted").length, 19);
    const { voted, totals } = await store.tally();
    assert.equal(voted, 1);
    assert.equal(totals[0] + totals[1], 1);
  });

  test("racing ballots of different voters are all recorded and the totals add up", async ({ store }) => {
    const outcomes = await Promise.all([
      store.recordBallot("Alice", 1),
      store.recordBallot("Bob", 2),
      store.recordBallot("Tom", 1),
    ]);
    assert.deepEqual(outcomes.map((o) => o.kind), [
      "recorded",
      "recorded",
      "recorded",
    ]);
    assert.deepEqual(await store.tally(), {
      registered: 3,
      voted: 3,
      totals: [2, 1],
    });
  });

  test(
    "a recorded vote survives a restart, and a second vote after a restart is refused",
    async (under, opened) => {
      await under.store.recordBallot("Alice", 2);
      const record = await under.store.voteOf("Alice");
      const store = await reopen(under, opened);
      assert.equal(await store.hasVoted("Alice"), true);
      assert.deepEqual(await store.voteOf("Alice"), record);
      assert.deepEqual(await store.tally(), {
        registered: 3,
        voted: 1,
        totals: [0, 1],
      });
      assert.deepEqual(await store.recordBallot("Alice", 1), {
        kind: "already-voted",
      });
      assert.deepEqual((await store.tally()).totals, [0, 1]);
    },
  );

  test(
    "close waits for a ballot already handed over, then refuses new ones",
    async (under, opened) => {
      let settled = false;
      const pending = under.store.recordBallot("Tom", 1).finally(() =>
        settled = true
      );
      await under.store.close();
      assert.ok(settled, "close resolved before the ballot was settled");
      assert.equal((await pending).kind, "recorded");
      await assert.rejects(under.store.recordBallot("Bob", 1), StorageError);
      await under.store.close();
      const store = await reopen(under, opened);
      assert.equal(await store.hasVoted("Tom"), true);
      assert.equal(await store.hasVoted("Bob"), false);
    },
  );

  test(
    "await using closes the store, so the election opens again",
    async (under, opened) => {
      await under.store.close();
      {
        await using first = await under.reopen();
        assert.equal((await first.recordBallot("Bob", 2)).kind, "recorded");
      }
      const second = await under.reopen();
      opened.push(second);
      assert.equal(await second.hasVoted("Bob"), true);
    },
  );
}
