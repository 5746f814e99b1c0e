/**
 * The client's side of TLS: a connection to the voting server whose
 * certificate is verified against the election's CA and the host name. There
 * is no way to turn verification off.
 *
 * @module
 */

import { denoTlsConnection } from "../wire/transport.ts";
import type { Connection } from "../wire/transport.ts";

/** Options of {@linkcode connectTls}. */
export interface ConnectOptions {
  /** Host name or address; the certificate must be valid for it. */
  host: string;
  /** The server's TCP port. */
  port: number;
  /** PEM of the CA that signed the server's certificate. */
  ca: string;
  /** Where the CA came from, for messages (default `the CA file`). */
  caPath?: string;
}

/**
 * Opens a TLS connection to the voting server, verifying its certificate
 * against the given CA and host name. Nagle is turned off before the
 * handshake so that small request frames are not held back (40 ms
 * delayed-ACK stalls).
 *
 * @example
 * ```ts
 * const ca = await Deno.readTextFile("certs/ca.crt");
 * const connection = await connectTls({ host: "localhost", port: 4443, ca });
 * ```
 *
 * @param options Host, port and the CA certificate.
 * @returns The connection, handshake done.
 * @throws {Error} With one plain line when the server cannot be reached or
 * its certificate is refused; nothing has been sent then.
 */
export async function connectTls(
  options: ConnectOptions,
): Promise<Connection> {
  const { host, port, ca, caPath = "the CA file" } = options;
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
  return denoTlsConnection(tls, `${host}:${port}`);
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
  if (/unexpected end of file|reset|broken pipe/i.test(message)) {
    return `TLS handshake with ${host} failed: the server closed the connection (is this the booth's port?)`;
  }
  return `TLS handshake with ${host} failed: ${message.split("\n")[0]}`;
}
