/**
 * The server's log writer never blocks and never grows without bound: lines
 * wait while the stream is stalled, those beyond the capacity are dropped
 * and counted, and the count is written once the reader catches up.
 */

import assert from "node:assert/strict";
import { LogWriter } from "../lib/terminal/log_writer.ts";
import type { LogStream } from "../lib/terminal/log_writer.ts";

/** A stream that holds every write until the test releases it. */
class StalledStream implements LogStream {
  text = "";
  #held: (() => void)[] = [];
  #stalled = true;

  write(bytes: Uint8Array): Promise<number> {
    const text = new TextDecoder().decode(bytes);
    if (!this.#stalled) {
      this.text += text;
      return Promise.resolve(bytes.length);
    }
    return new Promise((resolve) =>
      this.#held.push(() => {
        this.text += text;
        resolve(bytes.length);
      })
    );
  }

  /** The reader comes back: held writes complete, new ones at once. */
  release(): void {
    this.#stalled = false;
    for (const write of this.#held.splice(0)) write();
  }
}

/** A log of `capacityBytes` on a stalled stream, counting drops as "N dropped". */
function stalledLog(capacityBytes: number) {
  const stream = new StalledStream();
  const log = new LogWriter(stream, {
    capacityBytes,
    batchMs: 0,
    droppedLine: (n) => `${n} dropped`,
  });
  return { stream, log };
}

Deno.test("lines beyond the log's capacity are dropped and their count is written once the reader comes back", async () => {
  const { stream, log } = stalledLog(20);
  log.write("line 1"); // 7 bytes
  log.write("line 2"); // 14
  log.write("line 3"); // 21 > 20: dropped
  log.write("line 4"); // dropped
  assert.equal(log.dropped, 2);
  stream.release();
  assert.equal(await log.drain(), true);
  assert.equal(stream.text, "line 1\nline 2\n2 dropped\n");
  assert.equal(log.dropped, 0);
});

Deno.test("the count of dropped lines comes before the next line kept, in order", async () => {
  const { stream, log } = stalledLog(14);
  log.write("line 1");
  log.write("line 2");
  log.write("line 3");
  stream.release();
  await log.drain();
  log.write("line 4");
  await log.drain();
  assert.equal(stream.text, "line 1\nline 2\n1 dropped\nline 4\n");
});

Deno.test("writing to a stalled log returns at once, and draining it gives up after its timeout", async () => {
  const stream = new StalledStream();
  const log = new LogWriter(stream, { capacityBytes: 1100, batchMs: 0 });
  // 1,000 lines of 11 bytes each ("event 0042\n"): 100 fit.
  for (let i = 0; i < 1000; i++) {
    log.write(`event ${String(i).padStart(4, "0")}`);
  }
  assert.equal(log.dropped, 900);
  assert.equal(await log.drain(10), false);
  stream.release();
  assert.equal(await log.drain(), true);
});

Deno.test("a log whose stream fails drops what follows without throwing", async () => {
  let writes = 0;
  const log = new LogWriter({
    write: () => {
      writes++;
      return Promise.reject(new Deno.errors.BrokenPipe("closed"));
    },
  }, { batchMs: 0 });
  log.write("lost");
  assert.equal(await log.drain(), false);
  log.write("also lost");
  assert.equal(await log.drain(), false);
  assert.equal(writes, 1);
});

Deno.test("a partial write is completed before the next line", async () => {
  let text = "";
  const log = new LogWriter({
    write: (bytes) => {
      text += new TextDecoder().decode(bytes.subarray(0, 3));
      return Promise.resolve(Math.min(3, bytes.length));
    },
  }, { batchMs: 0 });
  log.write("first line");
  log.write("second");
  await log.drain();
  assert.equal(text, "first line\nsecond\n");
});

Deno.test("a stream that would block (a full non-blocking pipe) is waited for, not given up: every line kept is written", async () => {
  let refusals = 3;
  let text = "";
  const stream: LogStream = {
    write(bytes) {
      if (refusals > 0) {
        refusals--;
        return Promise.reject(
          new Deno.errors.WouldBlock("Resource temporarily unavailable"),
        );
      }
      text += new TextDecoder().decode(bytes);
      return Promise.resolve(bytes.length);
    },
  };
  const log = new LogWriter(stream, { batchMs: 0, retryMs: 0 });
  log.write("line 1");
  log.write("line 2");
  assert.equal(await log.drain(), true);
  log.write("line 3");
  assert.equal(await log.drain(), true);
  assert.equal(refusals, 0);
  assert.equal(text, "line 1\nline 2\nline 3\n");
});
