/**
 * The secure election booth's library: the wire format, the booth's rules,
 * the election files and their one writer, shared by `server.ts`,
 * `client.ts`, the tests and the benchmark.
 *
 * @module
 */

export * from "./lib/framing.ts";
export * from "./lib/protocol.ts";
export * from "./lib/crypto.ts";
export * from "./lib/election_files.ts";
export * from "./lib/booth.ts";
export * from "./lib/file_ops.ts";
export * from "./lib/store.ts";
export * from "./lib/login_throttle.ts";
export * from "./lib/session.ts";
export * from "./lib/transport.ts";
export * from "./lib/booth_server.ts";
export * from "./lib/line_input.ts";
export * from "./lib/voter_client.ts";
export * from "./lib/tls_client.ts";
