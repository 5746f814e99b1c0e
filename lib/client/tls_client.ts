/**
 * The client's side of TLS: a connection to the voting server whose
 * certificate must lead to exactly the election's CA, for the host name
 * asked. There is no way to turn verification off.
 *
 * Deno's own `Deno.startTls` trusts its `caCerts` "in addition to the default
 * root certificates" (and to `DENO_CERT`), so any public CA willing to issue
 * for the booth's name could intercept voters. The client therefore uses
 * `node:tls`, whose `ca` list is the whole trust store, and decides itself,
 * once the handshake is done and before anything is sent, whether the server
 * is the election's: TLS verified the chain against that one CA, and the
 * client's own checks agree (every signature up to the election's CA, the
 * dates, the host name). `rejectUnauthorized` is off only so that the client
 * sees the certificate and can say precisely what is wrong with it (Deno
 * reports an expired certificate as an unknown issuer); nothing is accepted
 * unless every check passes.
 *
 * @module
 */

import { isIP } from "node:net";
import tls from "node:tls";
import { X509Certificate } from "node:crypto";
import {
  chainReachesAnchor,
  coversHost,
  parseCertificate,
} from "../election/certificates.ts";
import { nodeTlsConnection } from "../wire/tls_connection.ts";
import type { Connection } from "../wire/connection.ts";

/** Options of {@linkcode connectTls}. */
export interface ConnectOptions {
  /** Host name or address; the certificate must be valid for it. */
  host: string;
  /** The server's TCP port. */
  port: number;
  /** PEM of the election's CA: the only certificate trusted. */
  ca: string;
  /** Where the CA came from, for messages (default `the CA file`). */
  caPath?: string;
  /** Milliseconds to connect and finish the handshake (default 30,000). */
  timeoutMs?: number;
  /**
   * The address came from the election's kit, not from `--host`/`--port`:
   * a voter, who can neither start the booth nor fix its address, is told
   * to try again later or ask the election official.
   */
  fromKit?: boolean;
}

/** Thrown when the server cannot be reached or its certificate is refused. */
export class ConnectError extends Error {
  /**
   * Creates the error.
   *
   * @param message One line for the voter.
   */
  constructor(message: string) {
    super(message);
    this.name = "ConnectError";
  }
}

/**
 * Opens a TLS connection to the voting server, trusting only the given CA
 * and checking the host name. Nagle is off so that small request frames are
 * not held back (40 ms delayed-ACK stalls).
 *
 * @example
 * ```ts
 * const ca = await Deno.readTextFile("certs/ca.crt");
 * const connection = await connectTls({ host: "localhost", port: 4443, ca });
 * ```
 *
 * @param options Host, port, the CA certificate and a time limit.
 * @returns The connection, handshake done and the chain pinned.
 * @throws {ConnectError} With one plain line when the server cannot be
 * reached, does not finish the handshake in time, or its certificate is
 * refused; nothing has been sent then.
 */
export function connectTls(options: ConnectOptions): Promise<Connection> {
  const {
    host,
    port,
    ca,
    caPath = "the CA file",
    timeoutMs = 30_000,
    fromKit = false,
  } = options;
  const anchor = parseCertificate(ca);
  if (anchor === undefined) {
    return Promise.reject(
      new ConnectError(
        `Cannot use CA certificate "${caPath}": it is not a PEM certificate`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      ca: [ca],
      rejectUnauthorized: false,
      servername: isIP(host) === 0 ? host : undefined,
      minVersion: "TLSv1.2",
    });
    socket.setNoDelay(true);
    const fail = (message: string) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ConnectError(message));
    };
    const timer = setTimeout(
      () =>
        fail(
          `The server at ${host}:${port} did not complete the TLS handshake within ${
            timeoutMs / 1000
          } seconds`,
        ),
      timeoutMs,
    );
    socket.once("error", (error: Error & { code?: string }) => {
      fail(describeTlsError(error, host, port, fromKit));
    });
    socket.once("secureConnect", () => {
      const problem = certificateProblem(socket, anchor, host, caPath);
      if (problem !== undefined) {
        fail(`Refusing the server's certificate: ${problem}; nothing was sent`);
        return;
      }
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(nodeTlsConnection(socket));
    });
  });
}

/**
 * Why the server's certificate is refused, or undefined when every check
 * passes: the chain ends in the election's CA, the certificate is within its
 * dates and covers the host, and the TLS layer verified it too.
 */
function certificateProblem(
  socket: tls.TLSSocket,
  anchor: X509Certificate,
  host: string,
  caPath: string,
): string | undefined {
  const leaf = socket.getPeerX509Certificate();
  if (leaf === undefined) return "the server sent none";
  const now = new Date();
  if (!leafReachesAnchor(socket, leaf, anchor, now)) {
    return `it is not signed by the CA in "${caPath}"`;
  }
  if (leaf.validToDate < now) return "it has expired";
  if (leaf.validFromDate > now) return "it is not valid yet (check the clock)";
  if (!coversHost(leaf, host)) {
    return `it is not valid for the host name "${host}"`;
  }
  if (!socket.authorized) {
    return `TLS verification failed (${socket.authorizationError})`;
  }
  return undefined;
}

/**
 * Leaf and anchor pairs whose signatures were verified, by SHA-256
 * fingerprints: verifying costs about 1 ms, and a client that connects many
 * times (the tests, the benchmark) meets the same certificate each time.
 */
const verifiedLeaves = new Set<string>();

function leafReachesAnchor(
  socket: tls.TLSSocket,
  leaf: X509Certificate,
  anchor: X509Certificate,
  now: Date,
): boolean {
  const key = `${leaf.fingerprint256} ${anchor.fingerprint256}`;
  if (verifiedLeaves.has(key)) return true;
  if (chainReachesAnchor([leaf], anchor, now)) {
    verifiedLeaves.add(key);
    return true;
  }
  // A path through intermediates depends on their dates: checked each time.
  return chainReachesAnchor(presentedChain(socket, leaf), anchor, now);
}

/** The certificates the server presented, leaf first. */
function presentedChain(
  socket: tls.TLSSocket,
  leaf: X509Certificate,
): X509Certificate[] {
  const chain = [leaf];
  let link = socket.getPeerCertificate(true)?.issuerCertificate;
  const seen = new Set<string>([leaf.fingerprint256]);
  while (link?.raw !== undefined && chain.length < 10) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(link.raw);
    } catch {
      break;
    }
    if (seen.has(cert.fingerprint256)) break;
    seen.add(cert.fingerprint256);
    chain.push(cert);
    link = link.issuerCertificate;
  }
  return chain;
}

function describeTlsError(
  error: Error & { code?: string },
  host: string,
  port: number,
  fromKit: boolean,
): string {
  const official = "try again later, or ask the election official";
  switch (error.code) {
    case "ECONNREFUSED":
      return `Cannot connect to ${host}:${port}: connection refused (${
        fromKit
          ? `the booth is not reachable: ${official}`
          : "is the server running? start it with `make run`"
      })`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `Cannot connect to ${host}:${port}: the host name does not resolve (${
        fromKit ? `check your network, or ${official}` : "check --host"
      })`;
    case "ECONNRESET":
    case "EPIPE":
      return `TLS handshake with ${host} failed: the server closed the connection (is this the booth's port?)`;
  }
  return `TLS handshake with ${host} failed: ${error.message.split("\n")[0]}`;
}
