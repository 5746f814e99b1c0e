/** Length-prefixed frames: split and merged reads, oversize, garbage. */

import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder, FrameError } from "../lib/wire/framing.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const frame = (s: string) => encodeFrame(new TextEncoder().encode(s));

Deno.test("a frame is a 4-byte big-endian length and the payload", () => {
  assert.deepEqual([...frame("hi")], [0, 0, 0, 2, 104, 105]);
});

Deno.test("frames split across reads at every byte are reassembled", () => {
  const bytes = new Uint8Array([
    ...frame("hello"),
    ...frame(""),
    ...frame("world"),
  ]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const decoder = new FrameDecoder(64);
    const frames = [
      ...decoder.push(bytes.subarray(0, cut)),
      ...decoder.push(bytes.subarray(cut)),
    ];
    assert.deepEqual(frames.map(text), ["hello", "", "world"], `cut at ${cut}`);
    assert.equal(decoder.pendingBytes, 0);
  }
});

Deno.test("one byte at a time still gives whole frames", () => {
  const bytes = new Uint8Array([...frame("abc"), ...frame("de")]);
  const decoder = new FrameDecoder(64);
  const frames = [...bytes].flatMap((b) => decoder.push(new Uint8Array([b])));
  assert.deepEqual(frames.map(text), ["abc", "de"]);
});

Deno.test("several frames in one read all come out, in order", () => {
  const decoder = new FrameDecoder(64);
  const merged = new Uint8Array([...frame("1"), ...frame("2"), ...frame("3")]);
  assert.deepEqual(decoder.push(merged).map(text), ["1", "2", "3"]);
});

Deno.test("an oversize length prefix is refused before its payload arrives", () => {
  const decoder = new FrameDecoder(16);
  assert.throws(() => decoder.push(new Uint8Array([0, 0, 0, 17])), FrameError);
  assert.throws(
    () => new FrameDecoder(16).push(new Uint8Array([0xff, 0xff, 0xff, 0xff])),
    /exceeds the limit of 16/,
  );
});

Deno.test("a truncated frame yields nothing and waits", () => {
  const decoder = new FrameDecoder(64);
  assert.deepEqual(decoder.push(frame("hello").subarray(0, 6)), []);
  assert.equal(decoder.pendingBytes, 6);
});

Deno.test("encoding refuses a payload over the limit", () => {
  assert.throws(() => encodeFrame(new Uint8Array(17), 16), FrameError);
});

Deno.test("frames before an oversize length prefix in the same read come out first, then the decoder is broken", () => {
  const decoder = new FrameDecoder(16);
  const bytes = new Uint8Array([...frame("1"), ...frame("2"), 0, 0, 0, 17]);
  assert.deepEqual(decoder.push(bytes).map(text), ["1", "2"]);
  assert.ok(decoder.failure instanceof FrameError);
  assert.equal(
    decoder.failure.message,
    "Frame of 17 bytes exceeds the limit of 16",
  );
  assert.equal(decoder.pendingBytes, 0);
  assert.throws(() => decoder.push(frame("3")), /exceeds the limit of 16/);
});

Deno.test("a decoder that never saw a bad prefix reports no failure", () => {
  const decoder = new FrameDecoder(16);
  decoder.push(new Uint8Array([...frame("1"), 0, 0, 0]));
  assert.equal(decoder.failure, undefined);
});
