/**
 * `make cluster` (tools/cluster.ts): the database password stays off every
 * command line, and the official gets a URL and a password file that work.
 */

import assert from "node:assert/strict";
import { ROOT, runProgram, StreamedText } from "../tools/processes.ts";
import { testCerts } from "./helpers.ts";

/** The command lines of the live children of `parent` (Linux `/proc`). */
async function childCommandLines(parent: number): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parent) continue;
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      found.push(cmdline.replaceAll("\0", " "));
    } catch {
      continue; // exited meanwhile
    }
  }
  return found;
}

Deno.test("make cluster puts the database password on no command line and prints a URL the official's commands can use", async () => {
  const certs = await testCerts();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "tools/cluster.ts",
      "--certs",
      certs,
      "--ports",
      "0,0,0",
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new StreamedText(child.stdout);
  const stderr = new StreamedText(child.stderr);
  try {
    await stdout.until(
      (text) => text.includes("Ctrl-C stops"),
      "the cluster's ready line",
    );
    const official = stdout.text.split("\n").find((line) =>
      line.startsWith("officials")
    );
    const match = official?.match(
      /export PGPASSWORD="\$\(cat ([^)]+)\)"; deno task server report --database (\S+) --data (\S+)$/,
    );
    assert.ok(match, stdout.text);
    const [, passwordFile, url, data] = match;
    assert.equal(new URL(url).password, "", "no password in the URL shown");
    assert.equal((await Deno.stat(passwordFile)).mode! & 0o777, 0o600);
    const password = (await Deno.readTextFile(passwordFile)).trim();
    assert.ok(password.length > 0);
    const booths = (await childCommandLines(child.pid)).filter((line) =>
      line.includes("--database")
    );
    assert.equal(booths.length, 3, booths.join("\n"));
    for (const line of booths) assert.ok(!line.includes(password), line);
    const report = await runProgram("server", [
      "report",
      "--database",
      url,
      "--data",
      data,
    ], { env: { PGPASSWORD: password } });
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, /Turnout: 0\/3/);
  } finally {
    child.kill("SIGINT");
    await child.status;
    await stdout.done;
    await stderr.done;
  }
  assert.match(stdout.text, /cluster stopped\n$/, stderr.text);
});
