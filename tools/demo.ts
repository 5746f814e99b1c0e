/**
 * `make demo`: a whole election on a free port, with the real server and
 * client programs. Two of the seed's three voters vote (Alice tries twice),
 * the official closes the polls while the server runs, Tom comes too late,
 * the result is shown with its turnout line, the server stops, and the
 * official's report and the transcript are printed. Exit status 0 only when
 * every step printed what it should.
 *
 * Everything lives in a temporary directory removed at the end, on a
 * failure and on Ctrl-C too: the election, and certificates made for the
 * demo unless `--certs DIR` names a directory holding `ca.crt`,
 * `server.crt` and `server.key`. Nothing is written into the working tree.
 *
 * Usage: deno run --allow-all tools/demo.ts [--certs DIR]
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeCerts, runProgram, startServerProcess } from "./processes.ts";
import type { ServerProcess } from "./processes.ts";
import { POLLS_REFRESH_MS } from "../lib/store/polls_file.ts";

/** One voter's scripted session and the line that proves it went right. */
interface Session {
  title: string;
  answers: string[];
  expect: string[];
}

const BEFORE_CLOSING: Session[] = [
  {
    title: "Alice votes for Chris and asks for the result too early",
    answers: ["Alice", "1123456", "1234", "1", "1", "2", "4"],
    expect: ["Your vote has been recorded.", "The result is not available"],
  },
  {
    title: "Bob mistypes his password, then votes for Linda",
    answers: [
      "Bob",
      "1138765",
      "0000",
      "Bob",
      "1138765",
      "5678",
      "1",
      "2",
      "4",
    ],
    expect: [
      "Invalid name, registration number, or password",
      "Your vote has been recorded.",
    ],
  },
  {
    title: "Alice tries to vote a second time, then reads her history",
    answers: ["Alice", "1123456", "1234", "1", "3", "4"],
    expect: ["you have already voted", "Alice 20"],
  },
];

const AFTER_CLOSING: Session[] = [
  {
    title:
      "Tom comes after the closing: his vote is refused, the result is out",
    answers: ["Tom", "1154571", "9012", "1", "2", "4"],
    expect: [
      "The polls are closed",
      "Polls closed: turnout 2/3",
      "Tie between Chris and Linda",
      "Chris 1",
      "Linda 1",
    ],
  },
];

/**
 * Runs the demo's election and prints its transcript.
 *
 * @param work A temporary directory for the election.
 * @param certs Where `ca.crt`, `server.crt` and `server.key` are.
 * @returns Whether every step printed what it should.
 */
async function runDemo(work: string, certs: string): Promise<boolean> {
  const data = join(work, "data");
  const init = await runProgram("server", ["init", "--data", data]);
  if (init.code !== 0) {
    console.error(`server init failed: ${init.stderr.trim()}`);
    return false;
  }
  await using server = await startServerProcess([
    "--port",
    "0",
    "--data",
    data,
    "--cert",
    join(certs, "server.crt"),
    "--key",
    join(certs, "server.key"),
  ]);
  running = server;
  console.log(
    `Election booth demo: the seed's election (Alice, Bob, Tom; Chris, Linda) in ${data}`,
  );
  console.log(`server: ${server.stdout().trim()}\n`);

  let ok = true;
  await runSessions(BEFORE_CLOSING);
  console.log(`== The official closes the polls while the server runs`);
  console.log(`$ deno task server close --data ${data}`);
  const close = await runProgram("server", ["close", "--data", data]);
  console.log(close.stdout + close.stderr);
  if (close.code !== 0) ok = false;
  // The running server re-reads the polls file at most once a second.
  await new Promise((resolve) => setTimeout(resolve, POLLS_REFRESH_MS + 100));
  await runSessions(AFTER_CLOSING);

  const stopped = await server.stop();
  console.log(`== The server stopped (exit ${stopped}). Its security log:`);
  console.log(server.stderr());
  console.log(`== ${join(data, "result")}:`);
  console.log(await Deno.readTextFile(join(data, "result")));
  console.log(`== ${join(data, "history")}:`);
  console.log(await Deno.readTextFile(join(data, "history")));
  const verify = await runProgram("server", ["verify", "--data", data]);
  console.log(`== deno task server verify --data ${data}`);
  console.log(verify.stdout);
  const report = await runProgram("server", ["report", "--data", data]);
  console.log(`== deno task server report --data ${data}`);
  console.log(report.stdout + report.stderr);
  if (report.code !== 0 || !report.stdout.includes("Turnout: 2/3 (66.7%)")) {
    ok = false;
  }
  if (!ok || stopped !== 0 || verify.code !== 0) {
    console.error("the demo went wrong");
    return false;
  }
  console.log("demo finished: every step printed what it should");
  return true;

  async function runSessions(sessions: Session[]): Promise<void> {
    for (const { title, answers, expect } of sessions) {
      const script = answers.map((a) => `${a}\\n`).join("");
      console.log(`== ${title}`);
      console.log(
        `$ printf '${script}' | deno task client --port ${server.port} --ca ${
          join(certs, "ca.crt")
        }`,
      );
      const out = await runProgram("client", [
        "--port",
        String(server.port),
        "--ca",
        join(certs, "ca.crt"),
      ], { stdin: answers.map((a) => `${a}\n`).join("") });
      console.log(out.stdout + out.stderr);
      const missing = expect.filter((line) => !out.stdout.includes(line));
      if (out.code !== 0 || missing.length > 0) {
        ok = false;
        console.log(
          `!! expected exit 0 and ${
            JSON.stringify(missing)
          }; got exit ${out.code}`,
        );
      }
    }
  }
}

const { values } = parseArgs({
  args: Deno.args,
  options: { certs: { type: "string" } },
});
const work = await Deno.makeTempDir({ prefix: "booth-demo-" });
/** The demo's server while it runs, for Ctrl-C to stop. */
let running: ServerProcess | undefined;
// Ctrl-C would otherwise end the demo before its finally: the server it
// started is stopped and the temporary directory removed here instead.
const interrupted = async () => {
  await running?.kill();
  await Deno.remove(work, { recursive: true }).catch(() => {});
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", interrupted);
Deno.addSignalListener("SIGTERM", interrupted);
let ok = false;
try {
  ok = await runDemo(
    work,
    values.certs ?? await makeCerts(join(work, "certs")),
  );
} catch (error) {
  // A server that did not start puts its own output in the message.
  const message = (error as Error).message;
  console.error(message.split("\n").filter((line) => line !== "").join(" "));
} finally {
  await Deno.remove(work, { recursive: true });
}
Deno.exit(ok ? 0 : 1);
