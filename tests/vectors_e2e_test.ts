/**
 * PROTOCOL.md's test vectors (tests/vectors/server.json) replayed byte for
 * byte against the real server process over real TLS, on both TLS engines:
 * the document's examples and the server cannot drift apart.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { FrameDecoder, MAX_SERVER_FRAME_BYTES } from "../lib/wire/framing.ts";
import { decodeServerMessage } from "../lib/wire/protocol.ts";
import { initElection, startServer, testCerts } from "./helpers.ts";
import type { ServerProcess } from "./helpers.ts";
import { assertReply, fromHex, readVectors } from "./vector_format.ts";
import type { Step, VectorFile } from "./vector_format.ts";

/** How long any one reply or close may take: ample on a loaded machine. */
const REPLY_TIMEOUT_MS = 15_000;

const vectors: VectorFile = await readVectors();

/** A raw TLS connection that reads whole frames. */
class VectorConnection {
  readonly #conn: Deno.TlsConn;
  readonly #decoder = new FrameDecoder(MAX_SERVER_FRAME_BYTES);
  readonly #frames: Uint8Array[] = [];
  #closed = false;

  constructor(conn: Deno.TlsConn) {
    this.#conn = conn;
  }

  static async open(port: number, ca: string): Promise<VectorConnection> {
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [ca],
    });
    await conn.handshake();
    return new VectorConnection(conn);
  }

  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      written += await this.#conn.write(bytes.subarray(written));
    }
  }

  /** Ends our direction of the stream with a TLS close_notify. */
  async end(): Promise<void> {
    await this.#conn.closeWrite();
  }

  /**
   * The next frame, or null once the server has closed with a TLS
   * close_notify.
   */
  async next(where: string): Promise<Uint8Array | null> {
    while (this.#frames.length === 0) {
      const buffer = new Uint8Array(16 * 1024);
      let n: number | null;
      try {
        n = await withTimeout(this.#conn.read(buffer), `${where}: a reply`);
      } catch (error) {
        if (!(error instanceof Deno.errors.UnexpectedEof)) throw error;
        throw new Error(
          `${where}: the server closed the connection without a TLS close_notify`,
        );
      }
      if (n === null) return null;
      this.#frames.push(...this.#decoder.push(buffer.subarray(0, n)));
    }
    return this.#frames.shift()!;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Closed by the server already.
    }
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
  server: ServerProcess,
): Promise<void> {
  const action = step.action ?? "send";
  let stopped: Promise<number> | undefined;
  if (action === "send" || action === "send-then-end") {
    await connection.write(fromHex(step.hex!));
    if (action === "send-then-end") await connection.end();
  } else if (action === "stop-server") {
    stopped = server.stop();
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

for (const engine of ["node", "deno"] as const) {
  for (const suite of vectors.suites) {
    Deno.test(`test vectors "${suite.name}" pass against the server on the ${engine} TLS engine`, async () => {
      const rollDir = await Deno.makeTempDir({ prefix: "booth-vectors-" });
      const data = await initElection([
        "--voters",
        await votersFile(rollDir),
        "--candidates",
        vectors.election.candidates.join(","),
        ...suite.initFlags ?? [],
      ]);
      const ca = await Deno.readTextFile(join(await testCerts(), "ca.crt"));
      const server = await startServer(data, [
        ...suite.serverFlags,
        "--tls-engine",
        engine,
      ]);
      const open = new Map<string, VectorConnection>();
      try {
        for (const testCase of suite.cases) {
          for (const [i, step] of testCase.steps.entries()) {
            const name = step.conn ?? "a";
            let connection = open.get(name);
            if (connection === undefined) {
              connection = await VectorConnection.open(server.port, ca);
              open.set(name, connection);
            }
            await runStep(
              step,
              `${suite.name} / ${testCase.name}, step ${i + 1}`,
              connection,
              server,
            );
          }
          for (const connection of open.values()) connection.close();
          open.clear();
        }
      } finally {
        for (const connection of open.values()) connection.close();
        await server.stop();
        await Deno.remove(dirname(data), { recursive: true });
        await Deno.remove(rollDir, { recursive: true });
      }
    });
  }
}
