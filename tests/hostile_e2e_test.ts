/**
 * Hostile networks against the real server process: silent and half-open
 * sockets, floods, garbage, old TLS versions, untrusted certificates,
 * careless key files, and anyone trying to learn who voted for whom.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeFrame } from "../lib/wire/framing.ts";
import {
  ALICE,
  certFlags,
  clientFlags,
  connectVoter,
  initElection,
  lines,
  logIn,
  makeCerts,
  makeLeafCert,
  MENU,
  occurs,
  readUntilClosed,
  runClient,
  runProgram,
  startServer,
  testCerts,
  TOM,
  typed,
  typingClient,
} from "./helpers.ts";
import { tempDir } from "./temp_dir.ts";
import type { TestVoter } from "./helpers.ts";
import { denoTlsTo } from "./peers.ts";
import { refusedServe } from "./server_commands.ts";

const LOOPBACK = { hostname: "127.0.0.1" };

Deno.test("a connection that does not log in within the login grace is closed, handshake done or not", async () => {
  const data = await initElection();
  const server = await startServer(data, ["--login-grace", "1"]);
  try {
    // The one real-time check of the login grace (its rule runs on fake
    // time in the unit tests): closed after 1 s, within 10 s.
    const started = Date.now();
    using silent = await Deno.connect({ ...LOOPBACK, port: server.port });
    using halfHandshake = await Deno.connect({
      ...LOOPBACK,
      port: server.port,
    });
    await halfHandshake.write(
      new Uint8Array([0x16, 0x03, 0x01, 0x00, 0xff, 0x01]),
    );
    await using voter = await connectVoter(server.port);
    await readUntilClosed(silent, 10_000);
    await readUntilClosed(halfHandshake, 10_000);
    assert.deepEqual(await voter.receive(), {
      type: "error",
      code: "login-timeout",
      message: "No login within 1 seconds; connection closed",
    });
    const elapsed = Date.now() - started;
    assert.ok(
      elapsed >= 1000 && elapsed < 10_000,
      `closed after ${elapsed} ms`,
    );
  } finally {
    await server.stop();
  }
  assert.match(
    server.stderr(),
    /connection closed \(No login within 1 seconds\)/,
  );
  assert.match(server.stderr(), /TLS handshake failed: TLS handshake timeout/);
});

Deno.test("an idle logged-in session is closed and the client says why", async () => {
  const data = await initElection();
  const server = await startServer(data, ["--idle-timeout", "1"]);
  try {
    const client = await typingClient(server.port);
    await client.type(...ALICE);
    await client.output.stdout.until(occurs("4. Exit"), "the menu");
    // The one real-time check of the idle timeout (its rule runs on fake
    // time in the unit tests): closed after 1 s idle, within 10 s.
    const idleSince = Date.now();
    await server.until(
      "stderr",
      occurs("connection closed (Idle for 1 seconds)"),
      "the idle session's close",
    );
    const idle = Date.now() - idleSince;
    assert.ok(idle >= 900 && idle < 10_000, `closed after ${idle} ms idle`);
    await client.type("3");
    const out = await client.finish();
    assert.equal(out.code, 1);
    assert.deepEqual(lines(out.stderr), [
      "The server closed the session after a period of inactivity; please log in again",
    ]);
  } finally {
    await server.stop();
  }
});

Deno.test("--quiet logs only failures, lockouts and refusals", async () => {
  const data = await initElection();
  const server = await startServer(data, ["--quiet"]);
  try {
    await runClient(server.port, ["Tom", "1154571", "0000", ...TOM, "3", "4"]);
  } finally {
    await server.stop();
  }
  const log = lines(server.stderr());
  assert.equal(log.length, 1, server.stderr());
  assert.match(
    log[0],
    /127\.0\.0\.1:\d+ login failed for registration number "1154571"$/,
  );
});

Deno.test("300 idle and half-open sockets do not hold up an honest voter", async () => {
  const data = await initElection();
  // All these peers share 127.0.0.1: the per-address limit, tested in
  // availability_e2e_test.ts, is lifted here.
  const server = await startServer(data, [
    "--quiet",
    "--max-startups-per-address",
    "1000",
  ]);
  const sockets: Deno.Conn[] = [];
  const voters: TestVoter[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      sockets.push(await Deno.connect({ ...LOOPBACK, port: server.port }));
    }
    for (let i = 0; i < 100; i++) {
      const conn = await Deno.connect({ ...LOOPBACK, port: server.port });
      await conn.write(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      sockets.push(conn);
    }
    for (let i = 0; i < 20; i++) voters.push(await connectVoter(server.port));
    const started = Date.now();
    const honest = await runClient(server.port, [...TOM, "1", "2", "4"]);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(honest.code, 0, honest.stderr);
    assert.deepEqual(lines(honest.stdout).slice(-6), [
      "Your vote has been recorded.",
      ...MENU,
    ]);
    assert.ok(seconds < 5, `the honest voter waited ${seconds} s`);
  } finally {
    for (const socket of sockets) socket.close();
    for (const voter of voters) voter.close();
    await server.stop();
  }
});

Deno.test("beyond --max-connections new connections are closed at once", async () => {
  const data = await initElection();
  const server = await startServer(data, ["--max-connections", "5"]);
  const held: TestVoter[] = [];
  try {
    for (let i = 0; i < 5; i++) held.push(await connectVoter(server.port));
    // The server has taken all five once it has logged them.
    await server.until(
      "stderr",
      occurs("connection opened", 5),
      "five connections",
    );
    using extra = await Deno.connect({ ...LOOPBACK, port: server.port });
    await readUntilClosed(extra, 10_000);
    for (const voter of held.splice(0)) voter.close();
    await server.until(
      "stderr",
      occurs("connection closed (peer closed the connection)", 5),
      "the five connections closed",
    );
    const honest = await runClient(server.port, [...ALICE, "3", "4"]);
    assert.equal(honest.code, 0, honest.stderr);
  } finally {
    for (const voter of held) voter.close();
    await server.stop();
  }
  assert.match(
    server.stderr(),
    /connection refused \(too many open connections\)/,
  );
});

Deno.test("200 garbage connections leave the server serving: an honest voter still votes", async () => {
  const data = await initElection();
  // A short grace, so that garbage which looks like the start of a record
  // or a frame is reaped quickly too.
  const server = await startServer(data, [
    "--quiet",
    "--login-grace",
    "2",
    // All 200 share 127.0.0.1; the per-address limit is tested elsewhere.
    "--max-startups-per-address",
    "1000",
  ]);
  let seed = 4242;
  const byte = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256;
  const garbage = (n: number) => Uint8Array.from({ length: n }, byte);
  const closedByServer: boolean[] = [];
  const attack = async (i: number) => {
    const kind = i % 4;
    const payload = kind === 0
      ? garbage(1 + (i % 300)) // not TLS: random bytes
      : kind === 1
      ? new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n") // not TLS: HTTP
      : kind === 2
      ? garbage(1 + (i % 100)) // inside TLS: random payload
      : new Uint8Array([0xff, 0xff, 0xff, 0xff, ...garbage(16)]); // 4 GiB prefix
    const conn = kind < 2
      ? await Deno.connect({ ...LOOPBACK, port: server.port })
      : await denoTlsTo(server.port);
    await conn.write(payload).catch(() => {});
    closedByServer.push(
      await readUntilClosed(conn, 8000).then(() => true, () => false),
    );
    conn.close();
  };
  try {
    await Promise.all(Array.from({ length: 200 }, (_, i) => attack(i)));
    const honest = await runClient(server.port, [...ALICE, "1", "1", "4"]);
    assert.deepEqual(lines(honest.stdout).slice(-6), [
      "Your vote has been recorded.",
      ...MENU,
    ]);
  } finally {
    await server.stop();
  }
  assert.equal(closedByServer.length, 200);
  assert.equal(
    closedByServer.filter(Boolean).length,
    200,
    "every garbage connection was closed by the server",
  );
  assert.deepEqual(lines(server.stdout()), [
    `listening on 127.0.0.1:${server.port}`,
  ]);
  assert.match(
    server.stderr(),
    /protocol error: Frame of 4294967295 bytes exceeds the limit of 4096/,
  );
});

Deno.test("TLS 1.0 and 1.1 are refused, 1.2 and 1.3 accepted (openssl s_client)", async () => {
  const data = await initElection();
  const server = await startServer(data, ["--quiet"]);
  const certs = await testCerts();
  try {
    for (const version of ["tls1", "tls1_1", "tls1_2", "tls1_3"]) {
      const { stdout, stderr } = await new Deno.Command("openssl", {
        args: [
          "s_client",
          "-connect",
          `127.0.0.1:${server.port}`,
          `-${version}`,
          // Let openssl really offer the old versions (its default security
          // level would refuse them on the client side).
          "-cipher",
          "DEFAULT@SECLEVEL=0",
          "-CAfile",
          join(certs, "ca.crt"),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(stdout) +
        new TextDecoder().decode(stderr);
      if (version === "tls1" || version === "tls1_1") {
        assert.match(
          text,
          /alert (handshake failure|protocol version)/,
          `${version}:\n${text}`,
        );
        assert.match(text, /Cipher is \(NONE\)/, version);
      } else {
        const expected = version === "tls1_2" ? "TLSv1\\.2" : "TLSv1\\.3";
        assert.match(
          text,
          new RegExp(`New, ${expected}, Cipher is (?!\\(NONE\\))`),
          `${version}:\n${text}`,
        );
        assert.match(text, /Verify return code: 0 \(ok\)/, version);
      }
    }
  } finally {
    await server.stop();
  }
});

Deno.test("the client refuses a wrong CA, a wrong host name and an expired certificate before sending anything", async () => {
  const certs = await testCerts();
  await using otherCaDir = await tempDir("booth-other-ca-");
  const otherCa = await makeCerts(otherCaDir.path);
  const wrongHost = await makeLeafCert(certs, {
    san: "DNS:elsewhere.example",
    start: "20250101000000Z",
    end: "20990101000000Z",
  });
  const expired = await makeLeafCert(certs, {
    san: "DNS:localhost,IP:127.0.0.1",
    start: "20200101000000Z",
    end: "20200201000000Z",
  });
  const cases = [
    {
      name: "wrong CA",
      serverCerts: certs,
      ca: join(otherCa, "ca.crt"),
      problem:
        /^Refusing the server's certificate: it is not signed by the CA in ".*ca\.crt"; nothing was sent$/,
    },
    {
      name: "wrong host",
      serverCerts: wrongHost,
      ca: join(certs, "ca.crt"),
      problem:
        /^Refusing the server's certificate: it is not valid for the host name "localhost"; nothing was sent$/,
    },
    {
      name: "expired",
      serverCerts: expired,
      ca: join(certs, "ca.crt"),
      problem:
        /^Refusing the server's certificate: it has expired; nothing was sent$/,
    },
  ];
  for (const { name, serverCerts, ca, problem } of cases) {
    const data = await initElection();
    const server = await startServer(data, certFlags(serverCerts));
    try {
      const out = await runProgram("client", clientFlags(server.port, ca), {
        stdin: typed(ALICE),
      });
      assert.equal(out.code, 1, name);
      assert.equal(out.stdout, "", `${name}: the client prompted or printed`);
      assert.equal(lines(out.stderr).length, 1, `${name}: ${out.stderr}`);
      assert.match(out.stderr.trim(), problem, name);
    } finally {
      await server.stop();
    }
    // The host name is checked once the handshake is done (node:tls), so the
    // server may log a connection; it must never see a message.
    assert.ok(
      !/login|protocol error/.test(server.stderr()),
      `${name}: the server received a message:\n${server.stderr()}`,
    );
  }
});

Deno.test("the server refuses to start when symkey, passwords or the TLS key is readable by others", async () => {
  const certs = await testCerts();
  // A copy of the test certificate and key, whose key the TLS case loosens.
  await using keyDir = await tempDir("booth-key-");
  for (const file of ["server.crt", "server.key"]) {
    await Deno.copyFile(join(certs, file), join(keyDir.path, file));
  }
  const looseKey = join(keyDir.path, "server.key");
  const cases = [
    { file: "symkey", what: "key file" },
    { file: "passwords", what: "voter file" },
    { file: "tls", what: "TLS private key" },
  ];
  for (const { file, what } of cases) {
    const data = await initElection();
    const path = file === "tls" ? looseKey : join(data, file);
    await Deno.chmod(path, 0o644);
    assert.equal(
      await refusedServe(data, file === "tls" ? keyDir.path : undefined),
      `Refusing to use ${what} "${path}": it is accessible by group or others (mode 0644); run chmod 600 "${path}"`,
    );
    await Deno.chmod(path, 0o600);
  }
});

Deno.test("secrecy: no file, log line or output links a voter to a choice", async () => {
  const data = await initElection();
  const server = await startServer(data);
  const outputs: string[] = [];
  try {
    for (
      const [voter, choice] of [
        [ALICE, "1"],
        [["Bob", "1138765", "5678"], "2"],
        [TOM, "1"],
      ] as const
    ) {
      const out = await runClient(server.port, [
        ...voter,
        "1",
        choice,
        "3",
        "2",
        "4",
      ]);
      assert.equal(out.code, 0, out.stderr);
      outputs.push(out.stdout);
    }
  } finally {
    await server.stop();
  }
  const voters = ["Alice", "1123456", "Bob", "1138765", "Tom", "1154571"];
  const candidates = ["Chris", "Linda"];
  const texts: [string, string][] = [
    ["server stdout", server.stdout()],
    ["server stderr", server.stderr()],
  ];
  for await (const entry of Deno.readDir(data)) {
    texts.push([
      `data/${entry.name}`,
      await Deno.readTextFile(join(data, entry.name)),
    ]);
  }
  let linesChecked = 0;
  for (const [where, text] of texts) {
    for (const line of lines(text)) {
      linesChecked++;
      const names = voters.filter((v) => line.includes(v));
      const choices = candidates.filter((c) => line.includes(c));
      assert.ok(
        names.length === 0 || choices.length === 0,
        `${where} links ${names} to ${choices}: ${line}`,
      );
    }
  }
  assert.ok(linesChecked > 20);
  assert.deepEqual(
    await Deno.readTextFile(join(data, "result")),
    "Chris 2\nLinda 1\n",
  );
});

Deno.test("secrecy: the vote exchange is the same size on the wire for every candidate", async () => {
  const candidates = Array.from({ length: 12 }, (_, i) => `C${i + 1}`);
  await using roll = await tempDir("booth-roll-");
  const rollPath = join(roll.path, "roll.txt");
  await Deno.writeTextFile(
    rollPath,
    candidates.map((_, i) => `V${i + 10} ${1000 + i} pw${i + 10}`).join("\n"),
  );
  const data = await initElection([
    "--voters",
    rollPath,
    "--candidates",
    candidates.join(","),
  ]);
  const server = await startServer(data, ["--quiet"]);
  const relay = startCountingRelay(server.port);
  const exchanges = new Set<string>();
  try {
    for (let i = 0; i < candidates.length; i++) {
      await using channel = await connectVoter(relay.port);
      await logIn(channel, [`V${i + 10}`, `${1000 + i}`, `pw${i + 10}`]);
      assert.equal(
        (await channel.request({ type: "menu", choice: 1 })).type,
        "vote",
      );
      const before = { ...relay.bytes };
      const answer = await channel.request({ type: "ballot", choice: i + 1 });
      // The relay counts bytes before it forwards them: the answer's arrival
      // means both the ballot and its answer are counted.
      assert.deepEqual(answer, { type: "ballot", answer: 1 });
      exchanges.add(
        `${relay.bytes.up - before.up}/${relay.bytes.down - before.down}`,
      );
    }
  } finally {
    relay.close();
    await server.stop();
  }
  assert.equal(
    exchanges.size,
    1,
    `ballot exchanges of differing sizes: ${[...exchanges]}`,
  );
  const [up] = [...exchanges][0].split("/").map(Number);
  assert.ok(
    up >= encodeFrame(new Uint8Array(64)).length,
    "the relay saw the ballot",
  );
});

/** A TCP relay in front of the server that counts the bytes each way. */
function startCountingRelay(target: number) {
  const listener = Deno.listen({ ...LOOPBACK, port: 0 });
  const bytes = { up: 0, down: 0 };
  const conns: Deno.Conn[] = [];
  const pipe = async (
    from: Deno.Conn,
    to: Deno.Conn,
    count: (n: number) => void,
  ) => {
    const buffer = new Uint8Array(16 * 1024);
    try {
      for (
        let n = await from.read(buffer);
        n !== null;
        n = await from.read(buffer)
      ) {
        count(n);
        await to.write(buffer.subarray(0, n));
      }
    } catch {
      // One side closed.
    }
    try {
      to.close();
    } catch {
      // Already closed.
    }
  };
  (async () => {
    for await (const client of listener) {
      const upstream = await Deno.connect({ ...LOOPBACK, port: target });
      conns.push(client, upstream);
      pipe(client, upstream, (n) => bytes.up += n);
      pipe(upstream, client, (n) => bytes.down += n);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    bytes,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
    },
  };
}

Deno.test("the security log: time and peer on every event, never a password", async () => {
  const data = await initElection();
  const server = await startServer(data, ["--lockout-threshold", "2"]);
  try {
    const client = await runClient(server.port, [
      "Alice",
      "1123456",
      "secret-guess",
      "Alice",
      "1123456",
      "other-guess",
      ...ALICE,
      "4",
    ]);
    // The third login on one connection was the last: the client says so.
    assert.equal(client.code, 1);
    assert.deepEqual(lines(client.stdout).filter((l) => !l.endsWith(":")), [
      "Invalid name, registration number, or password",
      "Invalid name, registration number, or password",
      "Too many failed attempts; try again in 30 seconds",
    ]);
    assert.deepEqual(lines(client.stderr), [
      "Too many failed logins on this connection; the server closed it",
    ]);
  } finally {
    await server.stop();
  }
  const log = lines(server.stderr()).slice(1, -1);
  for (const line of log) {
    assert.match(
      line,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1:\d+ /,
      line,
    );
    assert.ok(
      !/secret-guess|other-guess|1234\b/.test(line.replace(/1123456/, "")),
      line,
    );
  }
  const events = log.map((line) => line.split(" ").slice(2).join(" "));
  assert.deepEqual(events, [
    "connection opened",
    'login failed for registration number "1123456"',
    'login failed for registration number "1123456"',
    'lockout: registration number "1123456" locked for 30 s at this address',
    'login refused: registration number "1123456" locked for 30 s at this address',
    "connection closed (too many failed logins on this connection)",
  ]);
});
