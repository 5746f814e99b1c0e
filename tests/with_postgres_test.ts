/**
 * The throwaway PostgreSQL of the tests and `make cluster`
 * (tools/with_postgres.ts) stops within a bound whatever happened to it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLocalPostgres } from "../tools/with_postgres.ts";

/** Settles when `pid` has exited (its /proc entry gone or a zombie). */
async function exited(pid: number): Promise<void> {
  for (;;) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("a local PostgreSQL killed from outside still stops, at once, and its directory is removed", async () => {
  const pg = await startLocalPostgres();
  const pidFile = join(pg.directory, "cluster", "postmaster.pid");
  const pid = Number((await Deno.readTextFile(pidFile)).split("\n")[0]);
  Deno.kill(pid, "SIGKILL");
  await exited(pid);
  // The pid file stays behind, naming a postmaster that is gone.
  assert.ok((await Deno.stat(pidFile)).isFile);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const outcome = await Promise.race([
      pg.stop().then(() => "stopped"),
      new Promise<string>((resolve) => {
        // A bound against a hang, not a synchronisation: stop() waits on
        // nothing once the postmaster is gone.
        timer = setTimeout(() => resolve("still waiting after 60 s"), 60_000);
      }),
    ]);
    assert.equal(outcome, "stopped");
  } finally {
    clearTimeout(timer);
  }
  await assert.rejects(Deno.stat(pg.directory), Deno.errors.NotFound);
});

Deno.test("a running local PostgreSQL stops on stop() and its directory is removed", async () => {
  const pg = await startLocalPostgres();
  const pidFile = join(pg.directory, "cluster", "postmaster.pid");
  const pid = Number((await Deno.readTextFile(pidFile)).split("\n")[0]);
  await pg.stop();
  await exited(pid);
  await assert.rejects(Deno.stat(pg.directory), Deno.errors.NotFound);
});
