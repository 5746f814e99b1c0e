/**
 * Who may hold the server's connections: startups per address, eviction at
 * the cap, sessions per voter; and the cap fitted to the descriptor limit.
 */

import assert from "node:assert/strict";
import { ConnectionLimits } from "../lib/server/connection_limits.ts";
import {
  DescriptorLimitError,
  fitConnections,
  freeDescriptors,
  RESERVED_DESCRIPTORS,
} from "../lib/server/descriptor_limit.ts";

function table(maxConnections = 10, maxStartupsPerAddress = 4) {
  const dropped: string[] = [];
  const reasons: string[] = [];
  const limits = new ConnectionLimits({
    maxConnections,
    maxStartupsPerAddress,
    maxSessionsPerVoter: 3,
  });
  const admit = (address: string, port: number) => {
    const peer = `${address}:${port}`;
    return limits.admit(peer, address, (why) => {
      dropped.push(peer);
      reasons.push(why);
    });
  };
  return { limits, admit, dropped, reasons };
}

Deno.test("an address may hold at most --max-startups-per-address connections not logged in", () => {
  const { admit, limits } = table(10, 4);
  for (let port = 1; port <= 4; port++) {
    assert.deepEqual(admit("10.0.0.2", port), { admitted: true });
  }
  assert.equal(admit("10.0.0.2", 5).admitted, false);
  assert.equal(admit("10.0.0.1", 1).admitted, true, "another address is not");
  limits.loggedIn("10.0.0.2:1", "Alice");
  assert.equal(
    admit("10.0.0.2", 6).admitted,
    true,
    "a login frees a startup slot",
  );
});

Deno.test("at the cap, a new address evicts the oldest unfinished connection of the biggest holder", () => {
  const { admit, dropped, limits, reasons } = table(6, 4);
  for (let port = 1; port <= 4; port++) admit("10.0.0.2", port);
  admit("10.0.0.3", 1);
  admit("10.0.0.3", 2);
  assert.equal(limits.size, 6);
  assert.deepEqual(admit("10.0.0.1", 1), {
    admitted: true,
    evicted: "10.0.0.2:1",
  });
  assert.deepEqual(dropped, ["10.0.0.2:1"]);
  assert.deepEqual(reasons, ["evicted"]);
  assert.deepEqual(admit("10.0.0.1", 2), {
    admitted: true,
    evicted: "10.0.0.2:2",
  });
  assert.equal(limits.size, 6);
  // 10.0.0.2 and .3 now hold 2 each, 10.0.0.1 holds 2: no one holds more.
  assert.equal(admit("10.0.0.1", 3).admitted, false);
});

Deno.test("at the cap with everyone logged in, a new connection is refused", () => {
  const { admit, limits } = table(2, 4);
  admit("10.0.0.2", 1);
  admit("10.0.0.3", 1);
  limits.loggedIn("10.0.0.2:1", "Alice");
  limits.loggedIn("10.0.0.3:1", "Bob");
  assert.deepEqual(admit("10.0.0.1", 1), {
    admitted: false,
    reason: "too many open connections",
  });
});

Deno.test("a voter's fourth login closes that voter's oldest session", () => {
  const { admit, limits, dropped, reasons } = table(10, 10);
  for (let port = 1; port <= 5; port++) admit("10.0.0.1", port);
  assert.deepEqual(limits.loggedIn("10.0.0.1:1", "Alice"), []);
  assert.deepEqual(limits.loggedIn("10.0.0.1:2", "Alice"), []);
  assert.deepEqual(limits.loggedIn("10.0.0.1:3", "Bob"), []);
  assert.deepEqual(limits.loggedIn("10.0.0.1:4", "Alice"), []);
  assert.deepEqual(limits.loggedIn("10.0.0.1:5", "Alice"), ["10.0.0.1:1"]);
  assert.deepEqual(dropped, ["10.0.0.1:1"]);
  assert.deepEqual(reasons, ["replaced"]);
  limits.release("10.0.0.1:1");
  assert.equal(limits.size, 4);
});

Deno.test("the connection cap is fitted to the descriptors left, or the server refuses to start", () => {
  assert.deepEqual(fitConnections(1000, 1040), { maxConnections: 1000 });
  const fitted = fitConnections(1000, 232);
  assert.equal(fitted.maxConnections, 232 - RESERVED_DESCRIPTORS);
  assert.equal(
    fitted.note,
    "--max-connections 1000 lowered to 192: only 232 more files can be open and 40 are kept for the server itself (raise the open file limit, e.g. `ulimit -n 1080`)",
  );
  assert.throws(
    () => fitConnections(1000, 50),
    (error) =>
      error instanceof DescriptorLimitError &&
      error.message ===
        "Refusing to serve: only 50 more files can be open, room for 10 connections, fewer than 16 (raise the open file limit, e.g. `ulimit -n 1080`)",
  );
});

Deno.test("free descriptors are counted up to the limit, and every one opened is closed", () => {
  let open = 0;
  let closed = 0;
  const opener = (limit: number) => () => {
    if (open >= limit) {
      throw Object.assign(new Error("Too many open files"), { code: "EMFILE" });
    }
    open++;
    return { close: () => closed++ };
  };
  assert.equal(freeDescriptors(100, opener(30)), 30);
  assert.equal(closed, 30);
  open = closed = 0;
  assert.equal(freeDescriptors(100, opener(500)), 100);
  assert.equal(closed, 100);
  assert.throws(
    () =>
      freeDescriptors(10, () => {
        throw new Deno.errors.PermissionDenied("no");
      }),
    Deno.errors.PermissionDenied,
  );
});
