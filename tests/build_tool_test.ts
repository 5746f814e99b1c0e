/**
 * `tools/build.ts` (what `make build` runs) answers a bad command line with
 * one line and `--help` with its usage, never with a stack trace.
 */

import assert from "node:assert/strict";
import { lines, runBuildTool } from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";

Deno.test("make build's tool prints its usage for --help and exits 0", async () => {
  const { code, stdout, stderr } = await runBuildTool(["--help"]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  assert.match(stdout, /^Usage: make build /);
  for (const option of ["--target", "--suffix", "--election", "--dry-run"]) {
    assert.ok(stdout.includes(`  ${option}`), `the usage lacks ${option}`);
  }
});

Deno.test("make build's tool refuses in one line a directory as --election, an unknown option and a missing value", async () => {
  await using temp = await tempDir("booth-build-");
  const cases: [string[], string][] = [
    [
      ["--dry-run", "--election", temp.path],
      `Cannot read election file "${temp.path}": it is a directory`,
    ],
    [["--bogus"], "Unknown option '--bogus' (see --help)"],
    [
      ["--election"],
      "Option '--election <value>' argument missing (see --help)",
    ],
  ];
  for (const [args, line] of cases) {
    const { code, stdout, stderr } = await runBuildTool(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stdout, "");
    assert.deepEqual(lines(stderr), [line]);
  }
});
