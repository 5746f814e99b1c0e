/**
 * The election's trust rules for certificates, shared by the voter's client
 * (which pins the election's CA) and `server kit` (which refuses to publish a
 * CA or host name the server's certificate does not match): one place decides
 * what "signed by the election's CA" and "covers this host" mean.
 *
 * @module
 */

import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { checkServerIdentity } from "node:tls";

/**
 * Parses the first certificate of a PEM text.
 *
 * @example
 * ```ts
 * const ca = parseCertificate(await Deno.readTextFile("certs/ca.crt"));
 * ```
 *
 * @param pem PEM text holding at least one certificate.
 * @returns The certificate, or undefined when the text holds none that parses.
 */
export function parseCertificate(pem: string): X509Certificate | undefined {
  if (
    !/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(pem)
  ) {
    return undefined;
  }
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/**
 * Whether `ca` issued `cert`: the names chain and the signature verifies
 * with the CA's key.
 *
 * @param cert The certificate to check.
 * @param ca The issuing CA's certificate.
 * @returns True when `ca` signed `cert`.
 */
export function isIssuedBy(
  cert: X509Certificate,
  ca: X509Certificate,
): boolean {
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** Intermediate CAs a presented chain may hold before reaching the anchor. */
const MAX_CHAIN_DEPTH = 8;

/**
 * Whether a chain presented by a server leads to exactly the election's CA:
 * the leaf, or a chain of presented CA certificates each signing the one
 * before, is signed by `anchor` (or is `anchor` itself). Every link's
 * signature is verified, so no other root the runtime trusts can stand in.
 *
 * @example
 * ```ts
 * import type { X509Certificate } from "node:crypto";
 *
 * declare const leaf: X509Certificate, ca: X509Certificate;
 * declare const intermediates: X509Certificate[];
 * const ok = chainReachesAnchor([leaf, ...intermediates], ca);
 * ```
 *
 * @param chain The presented certificates, leaf first.
 * @param anchor The election's CA.
 * @param now The time intermediates must be valid at (default now).
 * @returns True when the chain ends in `anchor`.
 */
export function chainReachesAnchor(
  chain: readonly X509Certificate[],
  anchor: X509Certificate,
  now: Date = new Date(),
): boolean {
  let current = chain[0];
  if (current === undefined) return false;
  for (let depth = 0; depth <= MAX_CHAIN_DEPTH; depth++) {
    if (current.fingerprint256 === anchor.fingerprint256) return true;
    if (isIssuedBy(current, anchor)) return true;
    const issuer = chain.find((candidate) =>
      candidate !== current && candidate.ca &&
      candidate.validFromDate <= now && now <= candidate.validToDate &&
      isIssuedBy(current!, candidate)
    );
    if (issuer === undefined) return false;
    current = issuer;
  }
  return false;
}

/**
 * Whether a certificate is valid for a host name or IP address, by the same
 * rule the client's TLS applies (subjectAltName, wildcards, case).
 *
 * @param cert The server's certificate.
 * @param host A DNS name or an IP address.
 * @returns True when the certificate covers `host`.
 */
export function coversHost(cert: X509Certificate, host: string): boolean {
  const legacy = cert.toLegacyObject();
  return checkServerIdentity(host, legacy as never) === undefined;
}

/**
 * What is wrong with a server's certificate and private key as a pair, so
 * the server refuses at start-up rather than listen and fail every
 * handshake.
 *
 * @example
 * ```ts
 * const problem = keyPairProblem(
 *   await Deno.readTextFile("certs/server.crt"),
 *   await Deno.readTextFile("certs/server.key"),
 * );
 * if (problem !== undefined) console.error(problem);
 * ```
 *
 * @param certPem PEM text of the certificate (its first is the server's).
 * @param keyPem PEM text of the private key.
 * @returns A short reason ("the private key does not match the
 * certificate", ...), or undefined when the key belongs to the certificate.
 */
export function keyPairProblem(
  certPem: string,
  keyPem: string,
): string | undefined {
  const cert = parseCertificate(certPem);
  if (cert === undefined) return "the certificate is not a PEM certificate";
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    return "the private key is not a PEM private key";
  }
  try {
    if (cert.checkPrivateKey(key)) return undefined;
  } catch {
    // A key of another type than the certificate's cannot match it.
  }
  return "the private key does not match the certificate";
}
