import { keccak_256 } from "@noble/hashes/sha3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { keccak256, keccakBackend } from "./keccak.js";

describe("keccak256", () => {
  it("uses the native binding on this machine", () => {
    expect(keccakBackend()).toBe("native");
  });

  it("equals @noble/hashes on inputs of every size, across the native threshold", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 2_000 }), (data) => {
        expect(keccak256(data)).toEqual(keccak_256(data));
      }),
      { numRuns: 300 },
    );
  });
});
