/**
 * The throwaway PostgreSQL of the tests and `make cluster`
 * (tools/with_postgres.ts) stops within a bound whatever happened to it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  closedAncestor,
  openForTraversal,
  startLocalPostgres,
} from "../tools/with_postgres.ts";
import { tempDir } from "./temp_dir.ts";
import { ROOT } from "../tools/processes.ts";

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

Deno.test("a directory others may not enter on the way to the binaries is named (the cluster runs as postgres when root)", async () => {
  await using temp = await tempDir("booth-closed-");
  await Deno.chmod(temp.path, 0o711);
  const closed = join(temp.path, "closed");
  await Deno.mkdir(join(closed, "checkout", "node_modules"), {
    recursive: true,
  });
  await Deno.chmod(closed, 0o700);
  assert.equal(
    closedAncestor(join(closed, "checkout", "node_modules")),
    closed,
  );
  await Deno.chmod(closed, 0o755);
  assert.equal(
    closedAncestor(join(closed, "checkout", "node_modules")),
    undefined,
  );
});

Deno.test("with_postgres.ts --help shows its usage, and a command that cannot start is one line, exit 127", async () => {
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        join(ROOT, "tools", "with_postgres.ts"),
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const help = await run("--help");
  assert.equal(help.code, 0, text(help.stderr));
  assert.match(
    text(help.stdout),
    /^Usage: deno run --allow-all tools\/with_postgres.ts COMMAND/,
  );
  const missing = await run("no-such-program-here");
  assert.equal(missing.code, 127);
  assert.equal(
    text(missing.stderr),
    'Cannot run "no-such-program-here": no such program\n',
  );
});

Deno.test("a closed directory on the way to the binaries is opened for traversal only while needed, then closed again", async () => {
  await using temp = await tempDir("booth-closed-");
  await Deno.chmod(temp.path, 0o711);
  const closed = join(temp.path, "closed");
  const binaries = join(closed, "checkout", "node_modules");
  await Deno.mkdir(binaries, { recursive: true });
  await Deno.chmod(closed, 0o700);
  const closeAgain = openForTraversal(binaries);
  assert.equal((await Deno.stat(closed)).mode! & 0o777, 0o701);
  assert.equal(closedAncestor(binaries), undefined);
  closeAgain();
  assert.equal((await Deno.stat(closed)).mode! & 0o777, 0o700);
});
