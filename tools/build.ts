/**
 * `make build`: compiles `dist/election-server` and `dist/election-client`
 * with `deno compile`, using the runtime flags (permissions, V8 flags) of the
 * `server` and `client` tasks in deno.json — the one place they are written,
 * and the flags the tests run the entry points with.
 *
 * Usage: deno run --allow-read --allow-run --allow-write tools/build.ts
 *          [--target TRIPLE] [--suffix] [--election FILE] [--dry-run] [--help]
 *
 * `--suffix` appends the target to each file name (release builds);
 * `--election FILE` builds a voter's kit (`server kit`) into the client,
 * which uses it unless --election is given: the file is checked,
 * staged at `dist/embed/election.json` for `deno compile --include` (a path
 * the client knows) and removed afterwards; `--dry-run` prints the commands
 * without running them.
 *
 * @module
 */

import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { runtimeFlags } from "./processes.ts";
import { describeFsError } from "../lib/store/file_ops.ts";
import {
  EMBEDDED_KIT_PATH,
  KitError,
  parseElectionKit,
} from "../lib/election/kit.ts";

/** The targets `deno compile` supports, as the release workflow builds them. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

const USAGE = `Usage: make build [TARGET=TRIPLE] [ELECTION=FILE]
   or: deno run --allow-read --allow-run --allow-write tools/build.ts [options]

Compiles dist/election-server and dist/election-client with deno compile,
with the permission flags of the server and client tasks in deno.json.

Options:
  --target TRIPLE   cross-compile for another platform, one of:
${TARGETS.map((target) => `                      ${target}`).join("\n")}
  --suffix          append the target to each file name (release builds)
  --election FILE   build a voter's kit (server kit) into the client; the
                    client uses it unless run with its own --election
  --dry-run         print the deno compile commands without running them
  --help            print this help`;

const PROGRAMS = [
  { task: "server", entry: "server.ts", output: "election-server" },
  { task: "client", entry: "client.ts", output: "election-client" },
] as const;

/**
 * The `deno compile` arguments for both programs.
 *
 * @param config deno.json's text.
 * @param options The target triple (host when omitted), whether file names
 * carry it, and whether the client includes the staged election kit.
 * @returns One argument list per program.
 */
export function compileCommands(
  config: string,
  options: { target?: string; suffix?: boolean; election?: boolean } = {},
): string[][] {
  const tasks = JSON.parse(config).tasks as Record<string, string>;
  return PROGRAMS.map(({ task, entry, output }) => {
    const flags = runtimeFlags(tasks[task]);
    let name = `dist/${output}`;
    if (options.suffix && options.target) name += `-${options.target}`;
    if (options.target?.includes("windows")) name += ".exe";
    return [
      "compile",
      ...flags,
      ...(options.election && task === "client"
        ? ["--include", EMBEDDED_KIT_PATH]
        : []),
      ...(options.target ? ["--target", options.target] : []),
      "--output",
      name,
      entry,
    ];
  });
}

if (import.meta.main) {
  const values = parseBuildArgs(Deno.args);
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (values.target !== undefined && !TARGETS.includes(values.target)) {
    console.error(
      `Unknown target "${values.target}": one of ${TARGETS.join(", ")}`,
    );
    Deno.exit(2);
  }
  const election = values.election;
  if (election !== undefined) await checkElection(election);
  const commands = compileCommands(
    await Deno.readTextFile("deno.json"),
    { ...values, election: election !== undefined },
  );
  const staged = election !== undefined && !values["dry-run"];
  if (staged) {
    await Deno.mkdir(dirname(EMBEDDED_KIT_PATH), { recursive: true });
    await Deno.copyFile(election, EMBEDDED_KIT_PATH);
  }
  let failed = false;
  for (const args of commands) {
    console.log(`deno ${args.join(" ")}`);
    if (values["dry-run"]) continue;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args,
      stdout: "inherit",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      const text = new TextDecoder().decode(stderr);
      const offline = /dns error|failed to lookup|error sending request/i.test(
        text,
      );
      console.error(
        offline
          ? "deno compile could not download its runtime (no route to Deno's download host); run make build where it is reachable"
          : `deno compile failed: ${text.trim().split("\n")[0]}`,
      );
      failed = true;
      break;
    }
  }
  if (staged) {
    await Deno.remove(dirname(EMBEDDED_KIT_PATH), { recursive: true });
  }
  if (failed) Deno.exit(1);
}

/** The options, or one line and exit status 2 for an unknown or bad one. */
function parseBuildArgs(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        target: { type: "string" },
        suffix: { type: "boolean" },
        election: { type: "string" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean" },
      },
    }).values;
  } catch (error) {
    // node:util's parseArgs marks its refusals with ERR_PARSE_ARGS_* codes.
    const code = (error as { code?: unknown }).code;
    if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS_")) {
      throw error;
    }
    console.error(`${(error as Error).message} (see --help)`);
    Deno.exit(2);
  }
}

/** Refuses, with one line and exit status 2, a kit the client would refuse. */
async function checkElection(path: string): Promise<void> {
  let problem: string;
  try {
    parseElectionKit(await Deno.readTextFile(path));
    return;
  } catch (error) {
    if (error instanceof KitError) {
      problem = `Cannot use election file "${path}": ${error.message}`;
    } else {
      problem = `Cannot read election file "${path}": ${
        describeFsError(error)
      }`;
    }
  }
  console.error(problem);
  Deno.exit(2);
}
