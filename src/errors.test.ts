/** The error base: `describe` shows any value in a few characters, whatever a peer or a caller sent. */
import { expect, it, describe as suite } from "vitest";
import { describe, InvalidArgumentError } from "./errors.js";

suite("describe", () => {
  it("shows bigints, strings and objects briefly", () => {
    expect(describe(5n)).toBe("5n");
    expect(describe("x".repeat(100))).toBe(`"${"x".repeat(77)}..."`);
    expect(describe({ a: 1n })).toBe('{"a":"1n"}');
    expect(describe(undefined)).toBe("undefined");
  });

  it("never throws, not even for values nested deeper than the stack (a hostile body)", () => {
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(() => describe(deep)).not.toThrow();
    expect(describe(deep).length).toBeLessThanOrEqual(120);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describe(cyclic)).toBe("[object Object]");
    expect(new InvalidArgumentError("body", "an object", deep).code).toBe("INVALID_ARGUMENT");
  });
});
