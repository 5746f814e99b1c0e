/**
 * Availability under hostile peers, end to end on the real server over real
 * TLS (issue 10, items 1 to 3): a peer that writes without reading, a flood
 * that exhausts file descriptors, and one address holding connections
 * open. Each test keeps one real-time check with the bound.
 */

import assert from "node:assert/strict";
import type net from "node:net";
import { denoTlsConnection } from "../lib/wire/tls_connection.ts";
import { encodeFrame } from "../lib/wire/framing.ts";
import { encodeMessage } from "../lib/wire/protocol.ts";
import { ServerChannel } from "../lib/client/voter_client.ts";
import {
  ALICE,
  BOB,
  eventually,
  initElection,
  logIn,
  startServer,
  TOM,
} from "./helpers.ts";
import {
  denoTlsTo,
  loginOver,
  otherHosts,
  rssOf,
  tcpFrom,
  timedSession,
  tlsFrom,
} from "./peers.ts";

const MB = 1024 * 1024;

async function removeElection(dir: string): Promise<void> {
  await Deno.remove(dir.replace(/\/data$/, ""), { recursive: true });
}

for (const engine of ["node", "deno"] as const) {
  Deno.test(`${engine} engine: a peer writing 200 MB of requests without reading grows the server by at most 32 MB, and a voter's session meanwhile takes under 1 s`, async () => {
    const data = await initElection();
    const server = await startServer(data, ["--tls-engine", engine, "--quiet"]);
    const attacker = await connectVoterConnection(server.port);
    try {
      // Warm the server up, so that its baseline is a serving one.
      for (let i = 0; i < 3; i++) await timedSession(server.port, ALICE);
      const baseline = rssOf(server.child.pid);
      let peak = baseline;
      const sampler = setInterval(
        () => peak = Math.max(peak, rssOf(server.child.pid)),
        20,
      );
      assert.equal((await loginOver(attacker, BOB)).type, "login");
      const request = encodeFrame(encodeMessage({ type: "menu", choice: 3 }));
      const chunk = new Uint8Array(MB - MB % request.length);
      for (let at = 0; at < chunk.length; at += request.length) {
        chunk.set(request, at);
      }
      let sent = 0;
      let stop = false;
      const flooding = (async () => {
        while (!stop && sent < 200 * MB) {
          await attacker.write(chunk);
          sent += chunk.length;
        }
      })().catch(() => {});
      // Ten honest sessions meanwhile; then the flood gets what is left of
      // 2 s (the audit's server took in 400 MB in 1.7 s) to send 200 MB.
      const begin = performance.now();
      const durations: number[] = [];
      for (let i = 0; i < 10; i++) {
        durations.push(await timedSession(server.port, TOM));
      }
      let window: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        flooding,
        new Promise((resolve) =>
          window = setTimeout(resolve, 2000 - (performance.now() - begin))
        ),
      ]);
      clearTimeout(window);
      clearInterval(sampler);
      peak = Math.max(peak, rssOf(server.child.pid));
      stop = true;
      attacker.abort();
      await flooding;
      const growth = peak - baseline;
      const slowest = Math.max(...durations);
      console.log(
        `${engine}: flood took ${(sent / MB).toFixed(0)} MB in ${
          ((performance.now() - begin) / 1000).toFixed(1)
        } s; server RSS ${(baseline / MB).toFixed(0)} -> peak ${
          (peak / MB).toFixed(0)
        } MB (+${
          (growth / MB).toFixed(1)
        }); ${durations.length} sessions, slowest ${slowest.toFixed(0)} ms`,
      );
      assert.ok(growth <= 32 * MB, `RSS grew ${(growth / MB).toFixed(1)} MB`);
      assert.ok(slowest < 1000, `slowest session ${slowest.toFixed(0)} ms`);
    } finally {
      attacker.abort();
      await server.stop();
      await removeElection(data);
    }
  });

  Deno.test(`${engine} engine: under a limit of 256 descriptors the cap is fitted, 1,000 connects and exhausted descriptors do not stop accepting, and a voter then completes within 2 s`, async () => {
    const data = await initElection();
    const server = await startServer(data, ["--tls-engine", engine], {
      runUnder: ["prlimit", "--nofile=256"],
    });
    const sockets: net.Socket[] = [];
    const startedAt = performance.now();
    try {
      await eventually(
        () =>
          server.stderr().includes(
            "--max-connections 1000 lowered to ",
          ),
        "the line saying the cap was fitted",
      );
      // 1,000 connects from 20 addresses: as many as the cap and the
      // per-address limit let in are held, the rest are refused. (Deno's
      // TLS listener keeps a socket it closed before the handshake until the
      // peer closes it, so on that engine the flood itself can exhaust the
      // descriptors: connects then wait in the listen queue.)
      const hosts = otherHosts(20);
      sockets.push(
        ...await Promise.all(
          Array.from(
            { length: 1000 },
            (_, k) =>
              tcpFrom(server.port, hosts[k % hosts.length], { giveUpMs: 2000 }),
          ),
        ),
      );
      // Then no descriptor to spare at all: accepting fails until they free.
      const pid = server.child.pid;
      await prlimit(pid, "--nofile=32:256");
      sockets.push(
        ...await Promise.all(
          Array.from(
            { length: 50 },
            (_, k) => tcpFrom(server.port, hosts[k % 20], { giveUpMs: 2000 }),
          ),
        ),
      );
      await eventually(
        () => server.stderr().includes("accept failed"),
        "an accept error in the log",
        10_000,
      );
      await prlimit(pid, "--nofile=256:256");
      const closed = performance.now();
      for (const socket of sockets) socket.destroy();
      const session = await timedSession(server.port, ALICE);
      const sinceClose = performance.now() - closed;
      const acceptLines = server.stderr().split("\n").filter((l) =>
        l.includes("accept failed")
      );
      console.log(
        `${engine}: ${sockets.length} connects under 256 descriptors; ${acceptLines.length} accept-error lines; voter's session ${
          session.toFixed(0)
        } ms, done ${sinceClose.toFixed(0)} ms after the flood closed`,
      );
      assert.ok(sinceClose < 2000, `${sinceClose.toFixed(0)} ms`);
      // The flood may already have exhausted descriptors before the limit
      // was lowered (the deno engine): count from the test's start.
      const seconds = (performance.now() - startedAt) / 1000;
      assert.ok(
        acceptLines.length <= Math.ceil(seconds) + 1,
        `${acceptLines.length} accept-error lines in ${seconds.toFixed(1)} s`,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await server.stop();
      await removeElection(data);
    }
  });
}

/**
 * A TLS connection through Deno's own TLS client, which reads only when
 * asked: after its login, this peer reads nothing at all. (The voter's
 * client runs on node:tls, which in Deno keeps reading regardless.)
 */
async function connectVoterConnection(port: number) {
  return denoTlsConnection(await denoTlsTo(port), `localhost:${port}`);
}

async function prlimit(pid: number, limit: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("prlimit", {
    args: ["--pid", String(pid), limit],
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`prlimit failed: ${new TextDecoder().decode(stderr)}`);
  }
}

Deno.test("1,000 idle TCP connections and 200 unfinished TLS handshakes from one address do not stop a voter at another from completing a session within 1 s", async () => {
  const data = await initElection();
  const server = await startServer(data);
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < 1000; i += 100) {
      sockets.push(
        ...await Promise.all(
          Array.from({ length: 100 }, () => tcpFrom(server.port, "127.0.0.2")),
        ),
      );
    }
    for (let i = 0; i < 200; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, () => tcpFrom(server.port, "127.0.0.2")),
      );
      // A TLS record header announcing a ClientHello that never comes.
      for (const socket of batch) {
        socket.write(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      }
      sockets.push(...batch);
    }
    const refusals = () =>
      server.stderr().split("\n").filter((l) =>
        l.includes("too many connections not logged in from this address")
      ).length;
    await eventually(
      () => refusals() >= 1200 - 64,
      "the flood's refusals in the log",
      20_000,
    );
    const session = await timedSession(server.port, ALICE);
    console.log(
      `1,200 connections from 127.0.0.2 (${refusals()} refused); voter's session from 127.0.0.1 ${
        session.toFixed(0)
      } ms`,
    );
    assert.ok(session < 1000, `${session.toFixed(0)} ms`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.stop();
    await removeElection(data);
  }
});

Deno.test("a voter's fourth login closes that voter's oldest session", async () => {
  const data = await initElection();
  const server = await startServer(data);
  const connections = [];
  try {
    const channels = [];
    for (let i = 0; i < 4; i++) {
      const connection = await tlsFrom(server.port, "127.0.0.1");
      connections.push(connection);
      const channel = new ServerChannel(connection);
      assert.deepEqual(await logIn(channel, ALICE), {
        type: "login",
        answer: 1,
        name: "Alice",
      });
      channels.push(channel);
    }
    assert.deepEqual(await channels[0].receive(), {
      type: "error",
      code: "session-replaced",
      message:
        "Logged in again: at most 3 sessions per voter; connection closed",
    });
    for (const channel of channels.slice(1)) {
      assert.deepEqual(await channel.request({ type: "menu", choice: 3 }), {
        type: "history",
        answer: 0,
      });
    }
  } finally {
    for (const connection of connections) connection.close();
    await server.stop();
    await removeElection(data);
  }
});
