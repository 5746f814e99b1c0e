/**
 * The benchmark keeps working: a tiny run of `tools/bench.ts --smoke` prints
 * both tables with every row and the closing ratio line. The numbers
 * themselves live in BENCHMARKS.md; no test asserts a time.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { lines, ROOT } from "./helpers.ts";

Deno.test("the benchmark's smoke run prints both tables, no failed session, and the ratio line last", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(ROOT, "tools/bench.ts"), "--smoke"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = lines(new TextDecoder().decode(stdout));
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const rows = out.filter((line) => /^\| (bare|booth) \|/.test(line));
  const labels = rows.map((row) =>
    row.split("|").slice(1, 4).map((c) => c.trim()).join(" ")
  );
  assert.deepEqual(labels.sort(), [
    "bare Deno.listenTls 1",
    "bare Deno.listenTls 4",
    "bare node:tls 1",
    "bare node:tls 4",
    "booth Deno.listenTls 1",
    "booth Deno.listenTls 4",
    "booth node:tls 1",
    "booth node:tls 4",
  ]);
  for (const row of rows) {
    const cells = row.split("|").map((c) => c.trim());
    assert.ok(Number(cells[4]) > 0, `no sessions in: ${row}`);
    assert.equal(cells[9], "0", `failed sessions in: ${row}`);
  }
  const sweep = out.filter((line) => /^\| \d+ \|/.test(line));
  assert.deepEqual(sweep.map((row) => row.split("|")[1].trim()), [
    "200",
    "1000",
  ]);
  assert.match(out[out.length - 1], /^booth\/bare ratio: \d+\.\d\d$/);
});
