/**
 * Who may hold the server's connections, in the spirit of sshd's
 * MaxStartups and PerSourcePenalties: a cap on all connections, a cap on
 * not-yet-logged-in connections per source address, eviction of the
 * biggest holder's oldest unfinished connection when the cap is reached,
 * and at most a few sessions per voter. Pure bookkeeping: it never touches
 * a socket, it calls the `drop` it was given.
 *
 * @module
 */

/** Options of {@linkcode ConnectionLimits}. */
export interface ConnectionLimitsOptions {
  /** Open connections at most, in any phase. */
  maxConnections: number;
  /** Not-yet-logged-in connections one source address may hold. */
  maxStartupsPerAddress: number;
  /** Logged-in sessions one voter may hold; a new login closes the oldest. */
  maxSessionsPerVoter: number;
}

/** The answer to a new connection. */
export type Admission =
  | {
    /** Keep the connection. */
    admitted: true;
    /** The connection closed to make room, if one was. */
    evicted?: string;
  }
  | {
    /** Close the connection at once. */
    admitted: false;
    /** Why, for the log. */
    reason: string;
  };

/** Why the table closes a connection. */
export type DropReason = "evicted" | "replaced";

interface Entry {
  address: string;
  voter: string | undefined;
  drop: (why: DropReason) => void;
}

/**
 * The table of open connections, by peer (`host:port`, unique while open).
 *
 * @example
 * ```ts
 * const limits = new ConnectionLimits({
 *   maxConnections: 1000, maxStartupsPerAddress: 64, maxSessionsPerVoter: 3,
 * });
 * limits.admit("127.0.0.1:50000", "127.0.0.1", () => {}); // { admitted: true }
 * ```
 */
export class ConnectionLimits {
  readonly #options: ConnectionLimitsOptions;
  readonly #entries = new Map<string, Entry>();
  /** Not-yet-logged-in peers per address, oldest first. */
  readonly #startups = new Map<string, Set<string>>();
  /** Logged-in peers per voter, oldest first. */
  readonly #sessions = new Map<string, string[]>();

  /**
   * Creates an empty table.
   *
   * @param options The limits.
   */
  constructor(options: ConnectionLimitsOptions) {
    this.#options = options;
  }

  /** Connections open, in any phase. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Decides about a connection just accepted. At the global cap, a
   * connection from an address holding fewer unfinished connections than
   * the biggest holder evicts that holder's oldest one.
   *
   * @param peer The peer, `host:port`.
   * @param address The peer's host.
   * @param drop Closes this connection: `evicted` to make room for
   * another, `replaced` by a newer session of its voter.
   * @returns Whether to keep it, and who was evicted for it.
   */
  admit(
    peer: string,
    address: string,
    drop: (why: DropReason) => void,
  ): Admission {
    const own = this.#startups.get(address)?.size ?? 0;
    if (own >= this.#options.maxStartupsPerAddress) {
      return {
        admitted: false,
        reason: `too many connections not logged in from this address (${own})`,
      };
    }
    let evicted: string | undefined;
    if (this.#entries.size >= this.#options.maxConnections) {
      const [holder, held] = this.#biggestHolder();
      if (holder === undefined || held <= own) {
        return { admitted: false, reason: "too many open connections" };
      }
      evicted = this.#startups.get(holder)!.values().next().value!;
      const entry = this.#entries.get(evicted)!;
      this.release(evicted);
      entry.drop("evicted");
    }
    this.#entries.set(peer, { address, voter: undefined, drop });
    let startups = this.#startups.get(address);
    if (!startups) this.#startups.set(address, startups = new Set());
    startups.add(peer);
    return evicted === undefined
      ? { admitted: true }
      : { admitted: true, evicted };
  }

  /**
   * Records a login; closes the voter's oldest session if the voter now
   * holds more than allowed.
   *
   * @param peer The connection that logged in.
   * @param voter The voter's name.
   * @returns The peers closed to make room (empty mostly).
   */
  loggedIn(peer: string, voter: string): string[] {
    const entry = this.#entries.get(peer);
    if (!entry || entry.voter !== undefined) return [];
    this.#forgetStartup(peer, entry.address);
    entry.voter = voter;
    let sessions = this.#sessions.get(voter);
    if (!sessions) this.#sessions.set(voter, sessions = []);
    sessions.push(peer);
    const closed: string[] = [];
    while (sessions.length > this.#options.maxSessionsPerVoter) {
      const oldest = sessions[0];
      const dropped = this.#entries.get(oldest)!;
      this.release(oldest);
      dropped.drop("replaced");
      closed.push(oldest);
    }
    return closed;
  }

  /**
   * Forgets a connection that closed; harmless if already forgotten.
   *
   * @param peer The connection.
   */
  release(peer: string): void {
    const entry = this.#entries.get(peer);
    if (!entry) return;
    this.#entries.delete(peer);
    if (entry.voter === undefined) {
      this.#forgetStartup(peer, entry.address);
      return;
    }
    const sessions = this.#sessions.get(entry.voter)!;
    sessions.splice(sessions.indexOf(peer), 1);
    if (sessions.length === 0) this.#sessions.delete(entry.voter);
  }

  #forgetStartup(peer: string, address: string): void {
    const startups = this.#startups.get(address);
    startups?.delete(peer);
    if (startups?.size === 0) this.#startups.delete(address);
  }

  #biggestHolder(): [string | undefined, number] {
    let holder: string | undefined;
    let held = 0;
    for (const [address, peers] of this.#startups) {
      if (peers.size > held) [holder, held] = [address, peers.size];
    }
    return [holder, held];
  }
}
