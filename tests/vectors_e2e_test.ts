/**
 * PROTOCOL.md's test vectors (tests/vectors/server.json) replayed byte for
 * byte against the real server process over real TLS, on both TLS engines:
 * the document's examples and the server cannot drift apart. A suite on
 * PostgreSQL gets a fresh database on the test server
 * (`BOOTH_TEST_DATABASE_URL`), reached through a relay that a step can cut.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { FrameDecoder, MAX_SERVER_FRAME_BYTES } from "../lib/wire/framing.ts";
import { decodeServerMessage } from "../lib/wire/protocol.ts";
import type { Connection } from "../lib/wire/connection.ts";
import { initElection, startServer, testCerts } from "./helpers.ts";
import type { ServerProcess } from "./helpers.ts";
import { tlsFrom } from "./peers.ts";
import { testDatabase } from "./postgres_helpers.ts";
import { tempDir } from "./temp_dir.ts";
import { assertReply, fromHex, readVectors } from "./vector_format.ts";
import type { Step, Suite, VectorFile } from "./vector_format.ts";

/** How long any one reply or close may take: ample on a loaded machine. */
const REPLY_TIMEOUT_MS = 15_000;

const vectors: VectorFile = await readVectors();

/** The byte stream under a {@linkcode VectorConnection}. */
interface VectorTransport {
  /** The next chunk, null at the server's close_notify. */
  read(): Promise<Uint8Array | null>;
  write(bytes: Uint8Array): Promise<void>;
  /** Ends our direction with a TLS close_notify. */
  end(): Promise<void>;
  close(): void;
}

/** Deno's TLS client: it tells a close_notify from a bare TCP close. */
function denoTransport(conn: Deno.TlsConn): VectorTransport {
  return {
    async read() {
      const buffer = new Uint8Array(16 * 1024);
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        if (!(error instanceof Deno.errors.UnexpectedEof)) throw error;
        throw new Error(
          "the server closed the connection without a TLS close_notify",
        );
      }
      return n === null ? null : buffer.subarray(0, n);
    },
    async write(bytes) {
      let written = 0;
      while (written < bytes.length) {
        written += await conn.write(bytes.subarray(written));
      }
    },
    end: () => conn.closeWrite(),
    close() {
      try {
        conn.close();
      } catch {
        // Closed by the server already.
      }
    },
  };
}

/**
 * Node's TLS client, the one that binds a source address (`from`): its end
 * of stream does not tell a close_notify from a bare TCP close.
 */
function nodeTransport(connection: Connection): VectorTransport {
  return {
    read: () => connection.read(),
    write: (bytes) => connection.write(bytes),
    end() {
      throw new Error("send-then-end is not available with from");
    },
    close: () => connection.close(),
  };
}

/** A raw TLS connection that reads whole frames. */
class VectorConnection {
  readonly #transport: VectorTransport;
  readonly #decoder = new FrameDecoder(MAX_SERVER_FRAME_BYTES);
  readonly #frames: Uint8Array[] = [];
  #closed = false;

  constructor(transport: VectorTransport) {
    this.#transport = transport;
  }

  static async open(
    port: number,
    ca: string,
    from: string | undefined,
  ): Promise<VectorConnection> {
    if (from !== undefined) {
      return new VectorConnection(nodeTransport(await tlsFrom(port, from)));
    }
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [ca],
    });
    await conn.handshake();
    return new VectorConnection(denoTransport(conn));
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#transport.write(bytes);
  }

  /** Ends our direction of the stream with a TLS close_notify. */
  end(): Promise<void> {
    return this.#transport.end();
  }

  /** The next frame, or null once the server has closed the stream. */
  async next(where: string): Promise<Uint8Array | null> {
    while (this.#frames.length === 0) {
      let chunk: Uint8Array | null;
      try {
        chunk = await withTimeout(this.#transport.read(), `${where}: a reply`);
      } catch (error) {
        throw new Error(`${where}: ${(error as Error).message}`);
      }
      if (chunk === null) return null;
      this.#frames.push(...this.#decoder.push(chunk));
    }
    return this.#frames.shift()!;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#transport.close();
  }
}

/**
 * A TCP relay from a local port to the PostgreSQL server, so that a test
 * can make the database unreachable for one booth: cutting it closes every
 * relayed connection and the port, so connecting is refused.
 */
class DatabaseRelay implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #accepting: Promise<void>;
  readonly #piping = new Set<Promise<void>>();
  #cut = false;

  constructor(target: { hostname: string; port: number }) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept(target);
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(target: { hostname: string; port: number }): Promise<void> {
    try {
      for await (const client of this.#listener) {
        this.#conns.add(client);
        const piping = this.#pipe(client, target);
        this.#piping.add(piping);
        piping.finally(() => this.#piping.delete(piping));
      }
    } catch (error) {
      if (!this.#cut) throw error;
    }
  }

  async #pipe(
    client: Deno.Conn,
    target: { hostname: string; port: number },
  ): Promise<void> {
    let server: Deno.Conn | undefined;
    try {
      server = await Deno.connect(target);
      this.#conns.add(server);
      await Promise.allSettled([
        client.readable.pipeTo(server.writable),
        server.readable.pipeTo(client.writable),
      ]);
    } finally {
      for (const conn of [client, server]) {
        if (conn === undefined) continue;
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch {
          // Closed by the pipe already.
        }
      }
    }
  }

  /** Closes every relayed connection and the port. Idempotent. */
  async cut(): Promise<void> {
    if (!this.#cut) {
      this.#cut = true;
      this.#listener.close();
      for (const conn of this.#conns) {
        try {
          conn.close();
        } catch {
          // Closed by the pipe already.
        }
      }
    }
    await this.#accepting;
    await Promise.allSettled([...this.#piping]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.cut();
  }
}

async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`no ${what} within ${REPLY_TIMEOUT_MS} ms`)),
          REPLY_TIMEOUT_MS,
        )
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function votersFile(dir: string): Promise<string> {
  const path = join(dir, "voters.txt");
  await Deno.writeTextFile(
    path,
    vectors.election.voters.map((voter) => voter.join(" ")).join("\n") + "\n",
  );
  return path;
}

async function runStep(
  step: Step,
  where: string,
  connection: VectorConnection,
  booth: { server: ServerProcess; relay?: DatabaseRelay },
): Promise<void> {
  const action = step.action ?? "send";
  let stopped: Promise<number> | undefined;
  if (action === "send" || action === "send-then-end") {
    await connection.write(fromHex(step.hex!));
    if (action === "send-then-end") await connection.end();
  } else if (action === "stop-server") {
    stopped = booth.server.stop();
  } else if (action === "cut-database") {
    assert.ok(booth.relay, `${where}: cut-database needs store postgres`);
    await booth.relay.cut();
  }
  for (const [i, expected] of step.expect.entries()) {
    const payload = await connection.next(where);
    assert.ok(payload !== null, `${where}: closed before reply ${i + 1}`);
    // Valid by the receiver's rules (padding, integers), and exactly the
    // expected object, unknown fields included.
    decodeServerMessage(payload);
    const text = new TextDecoder().decode(payload).trimEnd();
    assertReply(JSON.parse(text), expected, `${where}, reply ${i + 1}`);
  }
  if (step.close) {
    const extra = await connection.next(where);
    assert.equal(
      extra,
      null,
      `${where}: a reply after the last expected one: ${
        extra && new TextDecoder().decode(extra)
      }`,
    );
  }
  if (stopped) assert.equal(await stopped, 0, `${where}: server exit status`);
}

/** A fresh PostgreSQL database reached through a relay, gone when disposed. */
async function relayedDatabase(): Promise<
  AsyncDisposable & { url: string; relayedUrl: string; relay: DatabaseRelay }
> {
  const database = await testDatabase();
  const url = new URL(database.url);
  const relay = new DatabaseRelay({
    hostname: url.hostname,
    port: Number(url.port || 5432),
  });
  const relayed = new URL(url.href);
  relayed.hostname = "127.0.0.1";
  relayed.port = String(relay.port);
  return {
    url: database.url,
    relayedUrl: relayed.href,
    relay,
    async [Symbol.asyncDispose]() {
      await relay.cut();
      await database[Symbol.asyncDispose]();
    },
  };
}

async function runSuite(suite: Suite, engine: "node" | "deno"): Promise<void> {
  await using dir = await tempDir("booth-pg-");
  await using database = suite.store === "postgres"
    ? await relayedDatabase()
    : undefined;
  const data = await initElection([
    "--voters",
    await votersFile(dir.path),
    "--candidates",
    vectors.election.candidates.join(","),
    ...suite.initFlags ?? [],
    ...database ? ["--database", database.url] : [],
  ]);
  const ca = await Deno.readTextFile(join(await testCerts(), "ca.crt"));
  const server = await startServer(data, [
    ...suite.serverFlags,
    ...database ? ["--database", database.relayedUrl] : [],
    "--tls-engine",
    engine,
  ]);
  const open = new Map<string, VectorConnection>();
  try {
    for (const testCase of suite.cases) {
      for (const [i, step] of testCase.steps.entries()) {
        const where = `${suite.name} / ${testCase.name}, step ${i + 1}`;
        const name = step.conn ?? "a";
        let connection = open.get(name);
        if (connection === undefined) {
          connection = await VectorConnection.open(server.port, ca, step.from);
          open.set(name, connection);
        } else {
          assert.equal(step.from, undefined, `${where}: from after the open`);
        }
        await runStep(step, where, connection, {
          server,
          relay: database?.relay,
        });
      }
      for (const connection of open.values()) connection.close();
      open.clear();
    }
  } finally {
    for (const connection of open.values()) connection.close();
    await server.stop();
    await Deno.remove(dirname(data), { recursive: true });
  }
}

for (const engine of ["node", "deno"] as const) {
  for (const suite of vectors.suites) {
    Deno.test(
      `test vectors "${suite.name}" pass against the server on the ${engine} TLS engine`,
      () => runSuite(suite, engine),
    );
  }
}
