/**
 * `make demo` removes the temporary election it makes: after a whole run,
 * after a failure and after Ctrl-C. Each run gets a `TMPDIR` of its own, so
 * what the demo leaves behind is what that directory holds.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../tools/processes.ts";
import { lines, testCerts } from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";

function demo(tmp: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "tools/demo.ts", ...args],
    cwd: ROOT,
    env: { TMPDIR: tmp },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function leftBehind(dir: string): Promise<string[]> {
  return await Array.fromAsync(Deno.readDir(dir), (entry) => entry.name);
}

Deno.test("make demo removes its election after a whole run", async () => {
  await using tmp = await tempDir("booth-demo-tmp-");
  const { code, stdout } = await demo(tmp.path, ["--certs", await testCerts()])
    .output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, text);
  assert.ok(text.includes(`in ${tmp.path}/booth-demo-`), text);
  assert.deepEqual(await leftBehind(tmp.path), []);
});

Deno.test("make demo removes its election when it fails, with one line why", async () => {
  await using tmp = await tempDir("booth-demo-tmp-");
  const missing = join(tmp.path, "no-certs");
  const { code, stderr } = await demo(tmp.path, ["--certs", missing])
    .output();
  assert.equal(code, 1);
  assert.deepEqual(lines(new TextDecoder().decode(stderr)), [
    `server did not start: Cannot read TLS certificate "${missing}/server.crt": it does not exist (run \`make certs\` to create one)`,
  ]);
  assert.deepEqual(await leftBehind(tmp.path), []);
});

Deno.test("make demo removes its election and stops its server on Ctrl-C", async () => {
  await using tmp = await tempDir("booth-demo-tmp-");
  const child = demo(tmp.path, ["--certs", await testCerts()]);
  const stderr = new Response(child.stderr).text();
  let out = "";
  let port = 0;
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    out += chunk;
    const listening = out.match(/\nserver: listening on [^:]+:(\d+)/);
    if (port === 0 && listening) {
      port = Number(listening[1]);
      child.kill("SIGINT");
    }
  }
  assert.ok(port > 0, out);
  const { code } = await child.status;
  await stderr;
  assert.equal(code, 130);
  assert.deepEqual(await leftBehind(tmp.path), []);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});
