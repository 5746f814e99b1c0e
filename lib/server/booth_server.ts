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
import { ConnectionLimits } from "./connection_limits.ts";
import { systemClock } from "./clock.ts";
import type { Clock } from "./clock.ts";
import { MemoryLockoutLedger } from "../store/lockout_ledger.ts";
import type { LockoutLedger } from "../store/lockout_ledger.ts";
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
import type { Lock } from "../election/lockout_rules.ts";
import { listenTls } from "../wire/transport.ts";
import type { TlsEngine, TlsListener } from "../wire/transport.ts";
import type { Connection } from "../wire/connection.ts";

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
  /**
   * Open connections at most; at the cap, a connection from another
   * address evicts the oldest not-yet-logged-in connection of the address
   * holding the most.
   */
  maxConnections: number;
  /** Not-yet-logged-in connections one source address may hold. */
  maxStartupsPerAddress: number;
  /** Failed logins from one address that lock it out of a registration number. */
  lockoutThreshold: number;
  /** First lockout in seconds; doubles per lockout up to 24 hours. */
  lockoutSeconds: number;
  /** Where failed logins are counted (default: in memory, this server only). */
  ledger?: LockoutLedger;
  /** The clock of the time limits and lockouts (default: the system's). */
  clock?: Clock;
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
  /** Same as {@linkcode BoothServer.close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Logged-in sessions one voter may hold; a fourth login closes the oldest. */
export const MAX_SESSIONS_PER_VOTER = 3;

const EVICTED =
  "Evicted: the server is full and this address holds the most connections not logged in";
const REPLACED =
  `Logged in again: at most ${MAX_SESSIONS_PER_VOTER} sessions per voter`;

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
  const clock = options.clock ?? systemClock;
  // The server closes the ledger only if it made it.
  const ownLedger = options.ledger === undefined;
  const ledger = options.ledger ?? new MemoryLockoutLedger({ now: clock.now });
  const throttle = new LoginThrottle(ledger, {
    threshold: options.lockoutThreshold,
    lockSeconds: options.lockoutSeconds,
    clock,
  });
  const limits = new ConnectionLimits({
    maxConnections: options.maxConnections,
    maxStartupsPerAddress: options.maxStartupsPerAddress,
    maxSessionsPerVoter: MAX_SESSIONS_PER_VOTER,
  });
  const acceptErrors = onceASecond(clock);
  /** How to end each session past its handshake, by peer. */
  const enders = new Map<string, (code: ErrorCode, message: string) => void>();
  const sessions = new Set<Promise<void>>();
  const stopping = new AbortController();
  const listener: TlsListener = await listenTls({
    engine: options.engine,
    hostname: options.hostname,
    port: options.port,
    cert: options.cert,
    key: options.key,
    handshakeTimeoutMs: options.loginGraceSeconds * 1000,
    onAccept: (socket) => {
      const admission = limits.admit(socket.peer, socket.address, (why) => {
        // Past its TLS handshake a connection is told why; before, it is
        // simply closed.
        const end = enders.get(socket.peer);
        if (end === undefined) {
          socket.drop();
        } else if (why === "evicted") {
          end("too-many-connections", EVICTED);
        } else {
          end("session-replaced", REPLACED);
        }
      });
      if (!admission.admitted) {
        options.log(
          socket.peer,
          `connection refused (${admission.reason})`,
          true,
        );
        return false;
      }
      if (
        admission.evicted !== undefined && !enders.has(admission.evicted)
      ) {
        options.log(admission.evicted, `connection closed (${EVICTED})`, true);
      }
      return true;
    },
    onClose: (peer) => limits.release(peer),
    onHandshakeFailure: (peer, reason) =>
      options.log(peer, `TLS handshake failed: ${reason}`, true),
    onAcceptError: (error) => {
      const suppressed = acceptErrors();
      if (suppressed === undefined) return;
      const code = (error as { code?: string }).code ?? error.name;
      options.log(
        "server",
        `accept failed (${code}); retrying${
          suppressed > 0 ? ` (${suppressed} more since the last line)` : ""
        }`,
        true,
      );
    },
    onConnection: (connection) => {
      const running = serveConnection(connection, store, throttle, {
        ...options,
        signal: stopping.signal,
        clock,
        onLogin: (voter) => limits.loggedIn(connection.peer, voter),
        onStart: (end) => enders.set(connection.peer, end),
      });
      sessions.add(running);
      running.finally(() => {
        sessions.delete(running);
        enders.delete(connection.peer);
      });
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
      if (ownLedger) await ledger.close();
    })();
  return {
    hostname: listener.hostname,
    port: listener.port,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A limiter for a log line: call it per event; it answers undefined when
 * a line was written less than a second ago, else how many events it held
 * back since the last line.
 */
function onceASecond(clock: Clock): () => number | undefined {
  let last = -Infinity;
  let held = 0;
  return () => {
    const now = clock.now();
    if (now - last < 1000) {
      held++;
      return undefined;
    }
    last = now;
    const suppressed = held;
    held = 0;
    return suppressed;
  };
}

/** What {@linkcode serveConnection} needs to know. */
export interface ConnectionOptions extends
  Pick<
    BoothServerOptions,
    "loginGraceSeconds" | "idleTimeoutSeconds" | "log" | "verifier"
  > {
  /**
   * Aborted when the server stops: the session finishes the request it is
   * answering, sends an error with code `shutdown` and closes.
   */
  signal?: AbortSignal;
  /** The clock of the login grace and the idle timeout (default: the system's). */
  clock?: Clock;
  /** Called once when the connection's voter has logged in. */
  onLogin?: (voter: string) => void;
  /**
   * Called at the start with a function that ends the session from outside:
   * it sends an error with the code and message, then closes.
   */
  onStart?: (end: (code: ErrorCode, message: string) => void) => void;
  /**
   * Requests answered per second after a burst of {@linkcode REQUEST_BURST}
   * (default {@linkcode REQUESTS_PER_SECOND}; Infinity for no limit).
   */
  requestsPerSecond?: number;
}

/**
 * Requests a connection may send back to back before it is paced. A whole
 * session (login, menu, ballot, history, result, exit) is a dozen.
 */
export const REQUEST_BURST = 64;

/**
 * Requests answered per second, per connection, after the burst: far more
 * than a person at a terminal types, far less than a flood. A peer sending
 * faster is simply read more slowly, so it waits in its own TCP window and
 * costs the server neither memory nor the CPU other voters need.
 */
export const REQUESTS_PER_SECOND = 32;

/**
 * A token bucket: resolves at once while the connection is within its
 * burst, otherwise when its next request is due.
 */
function requestPacer(clock: Clock, perSecond: number): () => Promise<void> {
  if (perSecond === Infinity) return () => Promise.resolve();
  let tokens = REQUEST_BURST;
  let last = clock.now();
  return () => {
    const now = clock.now();
    tokens = Math.min(REQUEST_BURST, tokens + (now - last) * perSecond / 1000);
    last = now;
    if (tokens >= 1) {
      tokens--;
      return Promise.resolve();
    }
    const wait = Math.ceil((1 - tokens) * 1000 / perSecond);
    tokens--;
    return new Promise((resolve) => clock.setTimer(resolve, wait));
  };
}

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
  const clock = options.clock ?? systemClock;
  const session = new VoterSession(store, {
    verifier: options.verifier,
    throttle,
    address: connection.address,
    nowMs: clock.now,
    onEvent: (event) =>
      log(describeEvent(event), !ROUTINE_EVENTS.has(event.kind)),
  });
  const decoder = new FrameDecoder(MAX_CLIENT_FRAME_BYTES);
  const pace = requestPacer(
    clock,
    options.requestsPerSecond ?? REQUESTS_PER_SECOND,
  );
  // Waits while the peer leaves MAX_UNSENT_BYTES of replies unread, and so
  // stops reading its requests: a peer that writes without reading is held
  // in its own TCP window until the idle timeout closes it.
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
  options.onStart?.(endSession);
  let loggedIn = false;
  // One timer per connection, pushed back by activity rather than re-armed
  // per message: the deadline moves, and the timer re-arms itself only when
  // it fires early.
  let deadline = connection.openedAt + options.loginGraceSeconds * 1000;
  let expiry: [ErrorCode, string] = [
    "login-timeout",
    `No login within ${options.loginGraceSeconds} seconds`,
  ];
  let cancelTimer = () => {};
  let timerAt = 0;
  const armFor = (at: number) => {
    cancelTimer();
    timerAt = at;
    cancelTimer = clock.setTimer(checkDeadline, Math.max(0, at - clock.now()));
  };
  const checkDeadline = () => {
    if (deadline > clock.now()) {
      armFor(deadline);
      return;
    }
    if (connection.unsentBytes > 0) {
      // The peer has left replies unread until now: it reads nothing more.
      ending = true;
      reason = expiry[1];
      connection.abort();
      return;
    }
    if (busy) {
      // A request is being answered (a login's check already counted): it
      // gets its answer first, which may move the deadline.
      expiredWhileBusy = true;
      return;
    }
    endSession(...expiry);
  };
  // A stopping server lets a request being answered finish (a vote in
  // progress is committed and acknowledged) and then says why it closes.
  let busy = false;
  let expiredWhileBusy = false;
  armFor(deadline);
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
      // A peer that sends many requests at once yields to the others
      // between its batches: an honest client sends one at a time.
      if (frames.length > 1) await yieldToOthers();
      for (const frame of frames) {
        await pace();
        let step;
        try {
          step = await session.handle(decodeClientMessage(frame));
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          step = session.protocolError(error.message, error.code);
        }
        const wasLoggedIn = loggedIn;
        loggedIn = session.voter !== undefined;
        if (loggedIn && !wasLoggedIn) options.onLogin?.(session.voter!);
        await send(step.reply);
        if (step.close) {
          reason = closeReason(step.reply);
          break reading;
        }
        if (loggedIn) {
          deadline = clock.now() + options.idleTimeoutSeconds * 1000;
          expiry = [
            "idle-timeout",
            `Idle for ${options.idleTimeoutSeconds} seconds`,
          ];
          if (deadline < timerAt) armFor(deadline);
        }
        if (options.signal?.aborted) break;
      }
      busy = false;
      if (expiredWhileBusy && !ending) {
        expiredWhileBusy = false;
        checkDeadline();
      }
      if (decoder.failure) {
        const step = session.protocolError(decoder.failure.message);
        reason = closeReason(step.reply);
        await send(step.reply);
        break;
      }
      if (options.signal?.aborted) stop();
    }
  } catch (error) {
    if (reason === PEER_CLOSED) {
      reason = `connection lost: ${(error as Error).message}`;
    }
  } finally {
    cancelTimer();
    options.signal?.removeEventListener("abort", stop);
    connection.close();
    // The session is over once its goodbye (and TLS's) has gone out, or the
    // close grace has dropped it: a stopping server closes what is left.
    await connection.closed;
    log(
      `connection closed (${reason})`,
      reason !== PEER_CLOSED && reason !== VOTER_EXITED && reason !== SHUTDOWN,
    );
  }
}

/** Lets every other connection's pending I/O run first. */
function yieldToOthers(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
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
      } locked for ${event.lock.seconds} s ${describeScope(event.lock)}`;
    case "lockout":
      return `lockout: registration number ${
        JSON.stringify(event.number)
      } locked for ${event.lock.seconds} s ${describeScope(event.lock)}`;
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

function describeScope(lock: Lock): string {
  return lock.scope === "address"
    ? "at this address"
    : "for every address (too many failures in 24 hours)";
}
