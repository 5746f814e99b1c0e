/**
 * How a running booth stops: its parts closed one after the other, in the
 * order they depend on each other.
 *
 * @module
 */

import type { BoothServer } from "./booth_server.ts";
import type { LockoutLedger } from "../store/lockout_ledger.ts";
import type { BoothStore } from "../store/booth_store.ts";

/** The parts of a running booth that {@linkcode closeBooth} closes. */
export interface BoothParts {
  /** The listener and its sessions. */
  server: Pick<BoothServer, "close">;
  /**
   * The lockout ledger given to the server, if any (a ledger the server made
   * itself, the server closes).
   */
  ledger?: Pick<LockoutLedger, "close">;
  /** The election's store, which the ledger may be using (its pool). */
  store: Pick<BoothStore, "close">;
}

/**
 * Closes a booth's parts, each once the one before has finished: the server
 * (its sessions give their last answers, which may queue a success's clear),
 * then the ledger (it sends those clears, on PostgreSQL over the store's
 * pool), then the store (it ends that pool; a clear sent after it is lost,
 * leaving that voter's check counted).
 *
 * @example
 * ```ts
 * import { MemoryLockoutLedger } from "../store/lockout_ledger.ts";
 *
 * const closed: string[] = [];
 * const part = (name: string) => ({
 *   close: () => Promise.resolve(void closed.push(name)),
 * });
 * await closeBooth({
 *   server: part("server"),
 *   ledger: new MemoryLockoutLedger(),
 *   store: part("store"),
 * });
 * ```
 *
 * @param parts The server, the ledger given to it (if any) and the store.
 * @returns When every part is closed.
 * @throws {Error} What a part's `close` throws; the parts after it are then
 * left open, for their owners' disposal to close.
 */
export async function closeBooth(parts: BoothParts): Promise<void> {
  await parts.server.close();
  await parts.ledger?.close();
  await parts.store.close();
}
