/**
 * The voter's kit: `election.json`, the one file that tells the client which
 * election it is for, where the server is and which CA alone to trust, plus
 * the three lines of `README.txt` that go with the download. It holds
 * nothing secret: a display name, a host, a port and a CA certificate.
 *
 * ```json
 * {
 *   "name": "Student council 2026",
 *   "host": "vote.example.org",
 *   "port": 4443,
 *   "ca": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
 * }
 * ```
 *
 * @module
 */

import { isIP } from "node:net";
import { coversHost, isIssuedBy, parseCertificate } from "./certificates.ts";

/** What `election.json` holds. */
export interface ElectionKit {
  /** The election's display name, e.g. `Student council 2026`. */
  name: string;
  /** The server's host name or IP address. */
  host: string;
  /** The server's TCP port. */
  port: number;
  /** PEM of the election's CA: the only certificate the client trusts. */
  ca: string;
}

/** The kit file's name, wherever the client looks for it. */
export const KIT_FILE_NAME = "election.json";

/**
 * Where `make build ELECTION=...` stages the kit to include it in the
 * compiled client, relative to the repository root (where `client.ts` is).
 */
export const EMBEDDED_KIT_PATH = "dist/embed/election.json";

/** Longest display name, in characters. */
const MAX_NAME_CHARS = 100;

/** Thrown for a kit that is not valid; the message names the problem. */
export class KitError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong, without the file's name.
   */
  constructor(message: string) {
    super(message);
    this.name = "KitError";
  }
}

/**
 * Why a display name is not acceptable, or undefined when it is.
 *
 * @param name The display name.
 * @returns The problem, e.g. `it is empty`.
 */
export function nameProblem(name: string): string | undefined {
  if (name.trim() === "") return "it is empty";
  if (name.length > MAX_NAME_CHARS) {
    return `it is longer than ${MAX_NAME_CHARS} characters`;
  }
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(name)) {
    return "it contains control or format characters";
  }
  return undefined;
}

/**
 * Why a host is not acceptable, or undefined when it is: an IP address, or
 * a DNS name of letters, digits, hyphens and dots.
 *
 * @param host The host.
 * @returns The problem.
 */
export function hostProblem(host: string): string | undefined {
  if (isIP(host) !== 0) return undefined;
  if (
    host.length > 253 ||
    !/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$/
      .test(host)
  ) {
    return "it is not a host name or IP address";
  }
  return undefined;
}

/**
 * Reads `election.json`'s text.
 *
 * @example
 * ```ts
 * const kit = parseElectionKit(await Deno.readTextFile("election.json"));
 * console.log(`${kit.name} (${kitAddress(kit)})`);
 * ```
 *
 * @param text The file's text.
 * @returns The kit.
 * @throws {KitError} For text that is not JSON, a missing field, or a field
 * that is not valid (a CA that is not a PEM certificate, among others).
 */
export function parseElectionKit(text: string): ElectionKit {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KitError("it is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new KitError("it is not a JSON object");
  }
  const fields = value as Record<string, unknown>;
  for (const field of ["name", "host", "port", "ca"]) {
    if (!(field in fields)) throw new KitError(`"${field}" is missing`);
  }
  const { name, host, port, ca } = fields;
  if (typeof name !== "string") throw new KitError(`"name" is not a string`);
  const badName = nameProblem(name);
  if (badName) throw new KitError(`"name" is not valid: ${badName}`);
  if (typeof host !== "string") throw new KitError(`"host" is not a string`);
  const badHost = hostProblem(host);
  if (badHost) throw new KitError(`"host" is not valid: ${badHost}`);
  if (
    !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535
  ) {
    throw new KitError(`"port" is not a whole number from 1 to 65535`);
  }
  if (typeof ca !== "string" || parseCertificate(ca) === undefined) {
    throw new KitError(`"ca" is not a PEM certificate`);
  }
  return { name, host, port: port as number, ca };
}

/**
 * The kit as `election.json`'s text.
 *
 * @param kit The kit.
 * @returns Indented JSON with a final newline.
 */
export function formatElectionKit(kit: ElectionKit): string {
  const { name, host, port, ca } = kit;
  return `${JSON.stringify({ name, host, port, ca }, null, 2)}\n`;
}

/**
 * Where a kit's client connects, as `host:port` (`[::1]:4443` for IPv6).
 *
 * @param kit Host and port.
 * @returns The address.
 */
export function kitAddress(kit: Pick<ElectionKit, "host" | "port">): string {
  return isIP(kit.host) === 6
    ? `[${kit.host}]:${kit.port}`
    : `${kit.host}:${kit.port}`;
}

/** Options of {@linkcode makeElectionKit}. */
export interface MakeKitOptions {
  /** The display name. */
  name: string;
  /** The host voters connect to. */
  host: string;
  /** The port voters connect to. */
  port: number;
  /** PEM of the server's certificate. */
  cert: string;
  /** Where the server's certificate came from, for messages. */
  certPath: string;
  /** PEM of the CA. */
  ca: string;
  /** Where the CA came from, for messages. */
  caPath: string;
  /** The time the certificate must be valid at (default now). */
  now?: Date;
}

/**
 * Makes a kit after checking that voters will be able to use it: the CA
 * signed the server's certificate, which is valid now and covers the host.
 * The kit holds the CA certificate alone, re-encoded, so nothing else from
 * the CA file (a key pasted next to it) can leak into it.
 *
 * @param options Name, host, port and the two certificates.
 * @returns The kit.
 * @throws {KitError} With one line naming the file and the problem.
 */
export function makeElectionKit(options: MakeKitOptions): ElectionKit {
  const { certPath, caPath, now = new Date() } = options;
  const cert = parseCertificate(options.cert);
  if (cert === undefined) {
    throw new KitError(
      `Cannot use TLS certificate "${certPath}": it is not a PEM certificate`,
    );
  }
  const ca = parseCertificate(options.ca);
  if (ca === undefined) {
    throw new KitError(
      `Cannot use CA certificate "${caPath}": it is not a PEM certificate`,
    );
  }
  const refuse = (problem: string) =>
    new KitError(`Refusing to make the kit: ${problem}`);
  if (!isIssuedBy(cert, ca)) {
    throw refuse(
      `the certificate "${certPath}" is not signed by the CA "${caPath}"`,
    );
  }
  if (cert.validToDate < now) {
    throw refuse(
      `the certificate "${certPath}" expired on ${
        cert.validToDate.toISOString().slice(0, 10)
      }`,
    );
  }
  if (!coversHost(cert, options.host)) {
    throw refuse(
      `the certificate "${certPath}" does not cover the host "${options.host}" (it covers ${
        cert.subjectAltName ?? "no subjectAltName"
      })`,
    );
  }
  return {
    name: options.name,
    host: options.host,
    port: options.port,
    ca: ca.toString(),
  };
}

/**
 * The three lines of `README.txt` for voters: which file to run, how to
 * check the download, what the program will ask.
 *
 * @param kit The kit the download goes with.
 * @returns The text, three lines.
 */
export function voterReadme(kit: ElectionKit): string {
  return [
    `To vote in ${kit.name}, run the election-client file for your computer (...-windows-msvc.exe on Windows, ...-apple-darwin on a Mac, ...-linux-gnu on Linux), with this election.json in the same folder; it connects to ${
      kitAddress(kit)
    }.`,
    "Check the download first: sha256sum --check --ignore-missing SHA256SUMS on Linux, shasum -a 256 --check --ignore-missing SHA256SUMS on a Mac, or compare certutil -hashfile FILE SHA256 with SHA256SUMS on Windows.",
    "It asks for your name, registration number and password, then shows a menu: 1 to vote, 2 for the result, 3 for your vote history, 4 to exit.",
  ].join("\n") + "\n";
}
