/**
 * The secure election booth's library: the wire format, the booth's rules,
 * the election files and their one writer, shared by `server.ts`,
 * `client.ts`, the tests and the benchmark.
 *
 * @module
 */

export * from "./lib/wire/framing.ts";
export * from "./lib/wire/protocol.ts";
export * from "./lib/election/crypto.ts";
export * from "./lib/election/election_files.ts";
export * from "./lib/election/booth.ts";
export * from "./lib/election/certificates.ts";
export * from "./lib/election/kit.ts";
export * from "./lib/election/credentials.ts";
export * from "./lib/election/polls.ts";
export * from "./lib/election/lockout_rules.ts";
export * from "./lib/store/file_ops.ts";
export * from "./lib/store/booth_store.ts";
export * from "./lib/store/election_dir.ts";
export {
  auditElection,
  inspectElection,
  readElectionKey,
} from "./lib/store/election_state.ts";
export type {
  ElectionReport,
  ElectionState,
} from "./lib/store/election_state.ts";
export * from "./lib/store/create_election.ts";
export * from "./lib/store/file_store.ts";
export * from "./lib/store/polls_file.ts";
export * from "./lib/store/officials.ts";
export * from "./lib/store/report.ts";
export { describeRollback } from "./lib/store/journal.ts";
export type { Rollback } from "./lib/store/journal.ts";
export * from "./lib/store/lockout_ledger.ts";
export * from "./lib/server/clock.ts";
export * from "./lib/server/login_throttle.ts";
export * from "./lib/server/session.ts";
export * from "./lib/wire/connection.ts";
export * from "./lib/wire/tls_connection.ts";
export * from "./lib/wire/transport.ts";
export * from "./lib/server/booth_server.ts";
export * from "./lib/server/close_booth.ts";
export * from "./lib/client/line_input.ts";
export * from "./lib/client/voter_client.ts";
export * from "./lib/client/tls_client.ts";
export * from "./lib/client/find_election.ts";
export * from "./lib/terminal/escape.ts";
