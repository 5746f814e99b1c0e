/**
 * The voter's program: connects to the voting server over TLS, verifying its
 * certificate against the election's CA and the host name, then runs the
 * session. There is no switch that turns verification off.
 *
 * @module
 */

import {
  describeFsError,
  ExitCode,
  integerFlag,
  parseFlags,
  printError,
  UsageError,
  VERSION,
} from "./lib/cli.ts";
import { InterruptedError, lineInput } from "./lib/line_input.ts";
import type { Connection } from "./lib/transport.ts";
import { runVoterSession } from "./lib/voter_client.ts";

const HELP =
  `election-client ${VERSION}: the secure election booth's voter's program

Usage: deno task client [options]

Connects to the voting server over TLS, asks for your name, registration
number and password, then shows the main menu: 1. Vote, 2. View election
result, 3. My vote history, 4. Exit. Answers may also be piped in, one per line.

Options:
  --host HOST    server's host name, checked against its certificate (default localhost)
  --port PORT    server's TCP port (default 4443)
  --ca FILE      CA certificate that signed the server's, PEM (default certs/ca.crt)
  -h, --help     show this help
  --version      show the version

Exit status: 0 after Exit or end of input, 1 when the connection or the
session fails, 2 for a bad option, 130 after Ctrl-C.`;

/**
 * Runs the client's command line.
 *
 * @param args The arguments, e.g. `Deno.args`.
 * @returns The exit status.
 */
export async function main(args: string[]): Promise<number> {
  let flags;
  let port: number;
  try {
    flags = parseFlags(args, {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean" },
      host: { type: "string" },
      port: { type: "string" },
      ca: { type: "string" },
    });
    port = integerFlag("--port", (flags.port as string) ?? "4443", 1, 65535);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(`${error.message} (see --help)`);
    return ExitCode.Usage;
  }
  if (flags.help) {
    console.log(HELP);
    return ExitCode.Ok;
  }
  if (flags.version) {
    console.log(`election-client ${VERSION}`);
    return ExitCode.Ok;
  }
  const host = (flags.host as string | undefined) ?? "localhost";
  const caPath = (flags.ca as string | undefined) ?? "certs/ca.crt";
  try {
    const ca = await readCa(caPath);
    const connection = await connectTls(host, port, ca, caPath);
    try {
      await runVoterSession(
        connection,
        lineInput(),
        (line) => console.log(line),
      );
    } finally {
      connection.close();
    }
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof InterruptedError) return ExitCode.Interrupted;
    printError(error instanceof Error ? error.message : String(error));
    return ExitCode.Failure;
  }
}

async function readCa(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(
      `Cannot read CA certificate "${path}": ${
        describeFsError(error)
      } (ask the election official for it, or run \`make certs\`)`,
    );
  }
}

/**
 * Opens a verified TLS connection. Nagle is turned off before the handshake
 * so that small request frames are not held back (40 ms delayed-ACK stalls).
 */
async function connectTls(
  host: string,
  port: number,
  ca: string,
  caPath: string,
): Promise<Connection> {
  let tcp: Deno.TcpConn;
  try {
    tcp = await Deno.connect({ hostname: host, port });
  } catch (error) {
    throw new Error(
      `Cannot connect to ${host}:${port}: ${describeConnectError(error)}`,
    );
  }
  tcp.setNoDelay(true);
  let tls: Deno.TlsConn;
  try {
    tls = await Deno.startTls(tcp, { hostname: host, caCerts: [ca] });
    await tls.handshake();
  } catch (error) {
    try {
      tcp.close();
    } catch {
      // startTls may already have taken and closed it.
    }
    throw new Error(describeTlsError(error, host, caPath));
  }
  return tlsConnection(tls, `${host}:${port}`);
}

function tlsConnection(conn: Deno.TlsConn, peer: string): Connection {
  let closed = false;
  return {
    peer,
    async read() {
      if (closed) return null;
      const buffer = new Uint8Array(16 * 1024);
      try {
        const n = await conn.read(buffer);
        return n === null ? null : buffer.subarray(0, n);
      } catch {
        return null;
      }
    },
    async write(bytes) {
      let written = 0;
      while (written < bytes.length) {
        written += await conn.write(bytes.subarray(written));
      }
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch {
        // The server closed first.
      }
    },
  };
}

function describeConnectError(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused (is the server running? start it with `make run`)";
  }
  if (error instanceof Deno.errors.ConnectionReset) {
    return "connection reset by the server";
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/lookup|resolve|dns|name or service/i.test(message)) {
    return "the host name does not resolve (check --host)";
  }
  return message.split("\n")[0];
}

function describeTlsError(
  error: unknown,
  host: string,
  caPath: string,
): string {
  const message = error instanceof Error ? error.message : String(error);
  const problem = /UnknownIssuer|unknown ?issuer|BadSignature/i.test(message)
    ? `it is not signed by the CA in "${caPath}"`
    : /NotValidForName|not valid for name|CertNotValidForName/i.test(message)
    ? `it is not valid for the host name "${host}"`
    : /Expired/i.test(message)
    ? "it has expired"
    : /NotValidYet/i.test(message)
    ? "it is not valid yet (check the clock)"
    : undefined;
  if (problem) {
    return `Refusing the server's certificate: ${problem}; nothing was sent`;
  }
  if (/InvalidData|invalid ?certificate|No certificates|pem/i.test(message)) {
    return `Cannot use CA certificate "${caPath}": it is not a PEM certificate`;
  }
  return `TLS handshake with ${host} failed: ${message.split("\n")[0]}`;
}

if (import.meta.main) {
  Deno.addSignalListener("SIGINT", () => {
    try {
      if (Deno.stdin.isTerminal()) Deno.stdin.setRaw(false);
    } catch {
      // The terminal is already gone.
    }
    Deno.exit(ExitCode.Interrupted);
  });
  Deno.exit(await main(Deno.args));
}
