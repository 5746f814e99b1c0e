/**
 * The benchmark's baseline: the barest TLS echo server this runtime offers,
 * on either engine the booth can use, with the booth's certificate. It
 * prints `listening on <hostname>:<port>` like the booth's server.
 *
 * Usage: deno run --allow-net --allow-read tools/bench_echo.ts
 *          --engine node|deno --cert FILE --key FILE [--port 0]
 *
 * @module
 */

import tls from "node:tls";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    engine: { type: "string", default: "node" },
    cert: { type: "string" },
    key: { type: "string" },
    port: { type: "string", default: "0" },
  },
});
const cert = await Deno.readTextFile(values.cert!);
const key = await Deno.readTextFile(values.key!);
const port = Number(values.port);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));

if (values.engine === "node") {
  const server = tls.createServer(
    { cert, key, minVersion: "TLSv1.2", noDelay: true },
    (socket) => {
      socket.on("data", (data) => socket.write(data));
      socket.on("error", () => socket.destroy());
    },
  );
  server.on("tlsClientError", (_error, socket) => socket.destroy());
  server.listen(port, "127.0.0.1", () => {
    const address = server.address() as { port: number };
    console.log(`listening on 127.0.0.1:${address.port}`);
  });
} else {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port, cert, key });
  console.log(`listening on 127.0.0.1:${listener.addr.port}`);
  for await (const conn of listener) {
    (async () => {
      const buffer = new Uint8Array(16 * 1024);
      try {
        for (
          let n = await conn.read(buffer);
          n !== null;
          n = await conn.read(buffer)
        ) {
          let written = 0;
          while (written < n) {
            written += await conn.write(buffer.subarray(written, n));
          }
        }
      } catch {
        // The client went away.
      }
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    })();
  }
}
