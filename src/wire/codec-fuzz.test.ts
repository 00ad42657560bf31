/**
 * A short run of the wire codec fuzzer (bench/fuzz/codec-fuzz.ts; `npm run fuzz` runs 100,000 cases):
 * what a hostile peer sends the node either decodes into a message that re-encodes to the same value,
 * or is refused with MalformedMessageError / OversizedMessageError; no other exception, no slow case.
 * (It sits with the node's tests because it came with the node's fuzzing; its place is beside
 * src/wire/codec.ts.)
 */
import { describe, expect, it } from "vitest";
import { codecCase, MSG_TYPES, runCodecFuzz, validMessage } from "../../bench/fuzz/codec-fuzz.js";
import { Rng } from "../../bench/fuzz/rng.js";
import type { Hex } from "../channel/types.js";
import { decodeMsg, encodeMsg } from "./codec.js";
import { MalformedMessageError } from "./errors.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20_251_129);

describe("wire codec fuzzing", () => {
  it("the generator makes valid messages of all 13 types (decode and round-trip)", () => {
    const r = new Rng(SEED);
    for (const type of MSG_TYPES) {
      for (let k = 0; k < 20; k++) {
        const msg = validMessage(r, type);
        expect(decodeMsg(encodeMsg(msg))).toEqual(msg);
      }
    }
  });

  it("3,000 random and mutated frames: decoded and round-tripped, or Malformed/Oversized", () => {
    const report = runCodecFuzz({ cases: 3_000, seed: SEED });
    expect(report.samples).toEqual([]);
    expect(report.failures).toBe(0);
    expect(report.validRejected).toBe(0);
    // Every kind of input occurred, and the run exercised all three outcomes.
    expect(Object.keys(report.byMutation).length).toBe(20);
    expect(report.outcomes.decoded).toBeGreaterThan(100);
    expect(report.outcomes.malformed).toBeGreaterThan(1_000);
    expect(report.outcomes.oversized).toBeGreaterThan(10);
  });

  // Regressions of what the fuzzer found (fixed in src/wire/codec.ts).
  it("a value nested 100,000 deep is a MalformedMessageError, not a RangeError", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    for (const text of [
      `{"type":"channelReject","proposalID":${deep},"reason":"x"}`,
      `{"type":${deep}}`,
      deep,
      `{"type":"update","channelID":"0x${"ab".repeat(32)}","from":0,"state":{"a":${deep}},"sig":"0x"}`,
    ]) {
      expect(() => decodeMsg(Buffer.from(`\u0001${text}`))).toThrow(MalformedMessageError);
    }
  });

  it("-0 as a participant index decodes to 0, so the message re-encodes to what it decoded to", () => {
    const r = new Rng(SEED);
    const msg = validMessage(r, "update");
    const locked = [
      {
        ID: `0x${"cd".repeat(32)}` as Hex,
        balances: msg.type === "update" ? msg.state.outcome.assets.map(() => 1n) : [],
        indexMap: [0],
      },
    ];
    const withLock =
      msg.type === "update"
        ? { ...msg, from: 0, state: { ...msg.state, outcome: { ...msg.state.outcome, locked } } }
        : msg;
    const text = Buffer.from(encodeMsg(withLock))
      .toString("utf8", 1)
      .replace('"from":0', '"from":-0')
      .replace('"indexMap":[0]', '"indexMap":[-0]');
    expect(text).toContain('"from":-0');
    expect(text).toContain('"indexMap":[-0]');
    const decoded = decodeMsg(Buffer.from(`\u0001${text}`));
    expect(decoded).toStrictEqual(withLock);
    expect(Object.is((decoded as { from: number }).from, 0)).toBe(true);
  });

  it("cases are reproducible from (seed, index)", () => {
    expect(codecCase(SEED, 17).frame).toEqual(codecCase(SEED, 17).frame);
  });
});
