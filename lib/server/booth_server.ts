/**
 * The voting server: a TLS listener whose connections each run a
 * {@linkcode VoterSession} against one {@linkcode BoothStore}. Many
 * clients are served at once; every change of election state still happens
 * one at a time, inside the store.
 *
 * @module
 */

import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  MAX_CLIENT_FRAME_BYTES,
} from "../wire/framing.ts";
import { LoginThrottle } from "./login_throttle.ts";
import {
  decodeClientMessage,
  encodeMessage,
  ProtocolError,
} from "../wire/protocol.ts";
import type { ErrorCode, ServerMessage } from "../wire/protocol.ts";
import { VoterSession } from "./session.ts";
import type { SessionEvent } from "./session.ts";
import type { PasswordVerifier } from "../election/booth.ts";
import type { BoothStore } from "../store/booth_store.ts";
import { listenTls } from "../wire/transport.ts";
import type { Connection, TlsEngine, TlsListener } from "../wire/transport.ts";

/** Options of {@linkcode startBoothServer}. */
export interface BoothServerOptions {
  /** Address to listen on. */
  hostname: string;
  /** TCP port; 0 takes a free one. */
  port: number;
  /** Which TLS implementation to listen with. */
  engine: TlsEngine;
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** The login rule, holding the election key K. */
  verifier: PasswordVerifier;
  /** Seconds a connection has to log in, TLS handshake included. */
  loginGraceSeconds: number;
  /** Seconds a logged-in session may stay silent. */
  idleTimeoutSeconds: number;
  /** Open connections beyond which new ones are closed at once. */
  maxConnections: number;
  /** Consecutive failed logins that lock a registration number. */
  lockoutThreshold: number;
  /** First lockout in seconds; doubles per lockout up to 15 minutes. */
  lockoutSeconds: number;
  /**
   * Receives one line per security event: `<peer> <what happened>`, and
   * whether it is a warning (a failure, lockout, refusal or an abnormal end)
   * rather than routine.
   */
  log: (peer: string, event: string, warning: boolean) => void;
}

/**
 * A running voting server. It does not own the store it serves: whoever
 * opened the store closes it, after the server.
 */
export interface BoothServer extends AsyncDisposable {
  /** The address listened on. */
  readonly hostname: string;
  /** The real port (useful after asking for port 0). */
  readonly port: number;
  /**
   * Stops accepting, closes every connection and waits for their sessions
   * (and so their pending ballots) to end. The store stays open. Calling
   * it again waits for the same close.
   */
  close(): Promise<void>;
}

/**
 * Starts serving an election over TLS.
 *
 * @param store The election's state; the caller closes it after the server.
 * @param options Address, engine, key material, login rule, limits and log.
 * @returns The server once it accepts connections.
 * @throws {Error} When the address cannot be bound or the key material is
 * unusable.
 */
export async function startBoothServer(
  store: BoothStore,
  options: BoothServerOptions,
): Promise<BoothServer> {
  const throttle = new LoginThrottle({
    threshold: options.lockoutThreshold,
    lockSeconds: options.lockoutSeconds,
  });
  const sessions = new Set<Promise<void>>();
  const stopping = new AbortController();
  const listener: TlsListener = await listenTls({
    engine: options.engine,
    hostname: options.hostname,
    port: options.port,
    cert: options.cert,
    key: options.key,
    handshakeTimeoutMs: options.loginGraceSeconds * 1000,
    maxConnections: options.maxConnections,
    onRefused: (peer) =>
      options.log(
        peer,
        "connection refused (too many open connections)",
        true,
      ),
    onHandshakeFailure: (peer, reason) =>
      options.log(peer, `TLS handshake failed: ${reason}`, true),
    onConnection: (connection) => {
      const running = serveConnection(connection, store, throttle, {
        ...options,
        signal: stopping.signal,
      });
      sessions.add(running);
      running.finally(() => sessions.delete(running));
    },
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      // Every session first says why it ends (error code `shutdown`), then
      // the listener closes whatever has not closed by itself in time.
      stopping.abort();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...sessions]),
        new Promise((resolve) => timer = setTimeout(resolve, SHUTDOWN_WAIT_MS)),
      ]);
      clearTimeout(timer);
      await listener.close();
      await Promise.allSettled([...sessions]);
    })();
  return {
    hostname: listener.hostname,
    port: listener.port,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** What {@linkcode serveConnection} needs to know. */
export type ConnectionOptions =
  & Pick<
    BoothServerOptions,
    "loginGraceSeconds" | "idleTimeoutSeconds" | "log" | "verifier"
  >
  & {
    /**
     * Aborted when the server stops: the session finishes the request it is
     * answering, sends an error with code `shutdown` and closes.
     */
    signal?: AbortSignal;
  };

/**
 * Runs one connection's session to its end: reads frames, answers each
 * message, enforces the login grace and the idle timeout. Bytes that are not
 * valid frames or messages close this connection only.
 *
 * @param connection The connection (TLS, or an in-memory pipe in tests).
 * @param store The election's state.
 * @param throttle The server-wide failed-login counter.
 * @param options Time limits, login rule and the security log.
 * @returns When the connection is closed.
 */
export async function serveConnection(
  connection: Connection,
  store: BoothStore,
  throttle: LoginThrottle,
  options: ConnectionOptions,
): Promise<void> {
  const peer = connection.peer;
  const log = (event: string, warning = false) =>
    options.log(peer, event, warning);
  log("connection opened");
  const session = new VoterSession(store, {
    verifier: options.verifier,
    throttle,
    onEvent: (event) =>
      log(describeEvent(event), !ROUTINE_EVENTS.has(event.kind)),
  });
  const decoder = new FrameDecoder(MAX_CLIENT_FRAME_BYTES);
  const send = (message: ServerMessage) =>
    connection.write(encodeFrame(encodeMessage(message)));
  let reason = PEER_CLOSED;
  // Sends an error that ends the session from outside the read loop (a
  // timer, the server stopping), once: the close then ends the loop's read.
  let ending = false;
  const endSession = (code: ErrorCode, message: string) => {
    if (ending) return;
    ending = true;
    reason = message;
    send({ type: "error", code, message: `${message}; connection closed` })
      .catch(() => {})
      .finally(() => connection.close());
  };
  // One timer per connection, pushed back by activity rather than re-armed
  // per message: the deadline moves, and the timer re-arms itself only when
  // it fires early.
  let deadline = connection.openedAt + options.loginGraceSeconds * 1000;
  let expiry: [ErrorCode, string] = [
    "login-timeout",
    `No login within ${options.loginGraceSeconds} seconds`,
  ];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = 0;
  const armFor = (at: number) => {
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(checkDeadline, Math.max(0, at - Date.now()));
  };
  const checkDeadline = () => {
    if (deadline > Date.now()) {
      armFor(deadline);
      return;
    }
    endSession(...expiry);
  };
  armFor(deadline);
  // A stopping server lets a request being answered finish (a vote in
  // progress is committed and acknowledged) and then says why it closes.
  let busy = false;
  const stop = () => {
    if (!busy) endSession("shutdown", SHUTDOWN);
  };
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) stop();
  try {
    reading: while (!ending) {
      const chunk = await connection.read();
      if (chunk === null || ending) break;
      let frames: Uint8Array[] = [];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
      }
      busy = true;
      // Requests that arrived ahead of a bad length prefix are answered
      // first, in order; then the prefix is reported.
      for (const frame of frames) {
        let step;
        try {
          step = await session.handle(decodeClientMessage(frame));
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          step = session.protocolError(error.message, error.code);
        }
        await send(step.reply);
        if (step.close) {
          reason = closeReason(step.reply);
          break reading;
        }
        if (session.voter !== undefined) {
          deadline = Date.now() + options.idleTimeoutSeconds * 1000;
          expiry = [
            "idle-timeout",
            `Idle for ${options.idleTimeoutSeconds} seconds`,
          ];
          if (deadline < timerAt) armFor(deadline);
        }
        if (options.signal?.aborted) break;
      }
      busy = false;
      if (decoder.failure) {
        const step = session.protocolError(decoder.failure.message);
        reason = closeReason(step.reply);
        await send(step.reply);
        break;
      }
      if (options.signal?.aborted) stop();
    }
  } catch (error) {
    reason = `connection lost: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", stop);
    connection.close();
    log(
      `connection closed (${reason})`,
      reason !== PEER_CLOSED && reason !== VOTER_EXITED && reason !== SHUTDOWN,
    );
  }
}

const PEER_CLOSED = "peer closed the connection";
const SHUTDOWN = "The server is shutting down";

/**
 * How long a stopping server waits for its sessions to send their `shutdown`
 * error and close before it closes the rest: ample for one small frame, and
 * short enough that a peer that does not read cannot hold up a stop.
 */
const SHUTDOWN_WAIT_MS = 2000;
const VOTER_EXITED = "voter exited";

/** Session events that are routine; every other kind is a warning. */
const ROUTINE_EVENTS = new Set<SessionEvent["kind"]>([
  "login-ok",
  "vote-recorded",
]);

/** Why a session ended, for the log, from the last reply it sent. */
function closeReason(reply: ServerMessage): string {
  if (reply.type === "error") return reply.message;
  if (reply.type === "bye") return VOTER_EXITED;
  return "too many failed logins on this connection";
}

function describeEvent(event: SessionEvent): string {
  switch (event.kind) {
    case "login-ok":
      return `login ok: ${event.voter}`;
    case "login-failed":
      return `login failed for registration number ${
        JSON.stringify(event.number)
      }`;
    case "login-locked":
      return `login refused: registration number ${
        JSON.stringify(event.number)
      } locked for ${event.seconds} s`;
    case "lockout":
      return `lockout: registration number ${
        JSON.stringify(event.number)
      } locked for ${event.seconds} s`;
    case "vote-recorded":
      return `vote recorded: ${event.voter}`;
    case "vote-refused":
      return `vote refused: ${event.voter} (${event.reason})`;
    case "protocol-error":
      return `protocol error: ${event.detail}`;
    case "store-unavailable":
      return `election unavailable: ${event.detail}`;
  }
}
