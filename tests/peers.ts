/**
 * Peers for the availability tests: TLS and raw TCP connections bound to a
 * chosen loopback source address (127.0.0.2, ... stand for other hosts;
 * Linux routes all of 127/8 to loopback), an honest voter's timed session,
 * and a process's resident memory.
 */

import net from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import { nodeTlsConnection } from "../lib/wire/tls_connection.ts";
import type { Connection } from "../lib/wire/connection.ts";
import { ServerChannel } from "../lib/client/voter_client.ts";
import { connectTls } from "../lib/client/tls_client.ts";
import { logIn, testCerts } from "./helpers.ts";
import type { ServerMessage } from "../lib/wire/protocol.ts";

/**
 * A verified TLS connection to a local server through Deno's own TLS client,
 * which reads only when asked (node:tls in Deno keeps reading regardless),
 * for writing raw bytes or for a peer that stops reading.
 *
 * @param port The server's port on localhost.
 * @returns The connection, its handshake done.
 * @throws {Deno.errors.ConnectionRefused} When nothing listens on `port`.
 */
export async function denoTlsTo(port: number): Promise<Deno.TlsConn> {
  const ca = await Deno.readTextFile(join(await testCerts(), "ca.crt"));
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port,
    caCerts: [ca],
  });
  await conn.handshake();
  return conn;
}

/**
 * A verified TLS connection to a local server from `localAddress`.
 *
 * @param port The server's port.
 * @param localAddress The source address, e.g. `127.0.0.2`.
 * @returns The connection.
 */
export async function tlsFrom(
  port: number,
  localAddress: string,
): Promise<Connection> {
  const ca = await Deno.readTextFile(join(await testCerts(), "ca.crt"));
  return await new Promise((resolve, reject) => {
    const tcp = net.connect({ host: "127.0.0.1", port, localAddress });
    tcp.setNoDelay(true);
    const socket = tls.connect({
      socket: tcp,
      servername: "localhost",
      ca,
    }, () => {
      resolve(nodeTlsConnection(socket));
    });
    socket.once("error", reject);
  });
}

/**
 * A raw TCP connection from `localAddress`, once connected (or refused).
 *
 * @param port The server's port.
 * @param localAddress The source address.
 * @param options `giveUpMs`: resolve anyway after this long (a server
 * whose listen queue is full leaves a connect retrying for minutes).
 * @returns The socket; it may already be closed by the server, or still
 * connecting.
 */
export function tcpFrom(
  port: number,
  localAddress: string,
  options: { giveUpMs?: number } = {},
): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = () => {
      clearTimeout(timer);
      resolve(socket);
    };
    socket.on("error", () => socket.destroy());
    socket.once("connect", done);
    socket.once("close", done);
    if (options.giveUpMs !== undefined) {
      timer = setTimeout(done, options.giveUpMs);
    }
  });
}

/**
 * Logs in over a channel, reading the answer.
 *
 * @param connection A connection to the server.
 * @param voter Name, number, password.
 * @returns The server's answer.
 */
export async function loginOver(
  connection: Connection,
  voter: string[],
): Promise<ServerMessage> {
  return await logIn(new ServerChannel(connection), voter);
}

/**
 * An honest voter's whole session from 127.0.0.1, in process: TLS, login,
 * history, exit.
 *
 * @param port The server's port.
 * @param voter Name, number, password.
 * @returns Its duration in milliseconds.
 * @throws {Error} When a step's answer is not the expected one.
 */
export async function timedSession(
  port: number,
  voter: string[],
): Promise<number> {
  const ca = await Deno.readTextFile(join(await testCerts(), "ca.crt"));
  const begin = performance.now();
  const connection = await connectTls({ host: "localhost", port, ca });
  try {
    const channel = new ServerChannel(connection);
    const login = await logIn(channel, voter);
    if (login.type !== "login" || login.answer !== 1) {
      throw new Error(`login refused: ${JSON.stringify(login)}`);
    }
    const history = await channel.request({ type: "menu", choice: 3 });
    if (history.type !== "history") {
      throw new Error(`unexpected answer: ${JSON.stringify(history)}`);
    }
    const bye = await channel.request({ type: "menu", choice: 4 });
    if (bye.type !== "bye") {
      throw new Error(`unexpected answer: ${JSON.stringify(bye)}`);
    }
    return performance.now() - begin;
  } finally {
    connection.close();
  }
}

/**
 * A process's resident memory.
 *
 * @param pid The process.
 * @returns Its RSS in bytes.
 */
export function rssOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(status.match(/^VmRSS:\s+(\d+) kB$/m)![1]);
  return kb * 1024;
}

/**
 * Loopback source addresses standing for `count` other hosts.
 *
 * @param count How many.
 * @returns `127.0.0.2`, `127.0.0.3`, ...
 */
export function otherHosts(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`);
}
