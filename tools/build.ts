/**
 * `make build`: compiles `dist/election-server` and `dist/election-client`
 * with `deno compile`, using the runtime flags (permissions, V8 flags) of the
 * `server` and `client` tasks in deno.json — the one place they are written,
 * and the flags the tests run the entry points with.
 *
 * Usage: deno run --allow-read --allow-run --allow-write tools/build.ts
 *          [--target TRIPLE] [--suffix] [--dry-run]
 *
 * `--suffix` appends the target to each file name (release builds);
 * `--dry-run` prints the commands without running them.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runtimeFlags } from "./processes.ts";

/** The targets `deno compile` supports, as the release workflow builds them. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

const PROGRAMS = [
  { task: "server", entry: "server.ts", output: "election-server" },
  { task: "client", entry: "client.ts", output: "election-client" },
] as const;

/**
 * The `deno compile` arguments for both programs.
 *
 * @param config deno.json's text.
 * @param options The target triple (host when omitted) and whether file
 * names carry it.
 * @returns One argument list per program.
 */
export function compileCommands(
  config: string,
  options: { target?: string; suffix?: boolean } = {},
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
      ...(options.target ? ["--target", options.target] : []),
      "--output",
      name,
      entry,
    ];
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      target: { type: "string" },
      suffix: { type: "boolean" },
      "dry-run": { type: "boolean" },
    },
  });
  if (values.target !== undefined && !TARGETS.includes(values.target)) {
    console.error(
      `Unknown target "${values.target}": one of ${TARGETS.join(", ")}`,
    );
    Deno.exit(2);
  }
  const commands = compileCommands(
    await Deno.readTextFile("deno.json"),
    values,
  );
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
      Deno.exit(1);
    }
  }
}
