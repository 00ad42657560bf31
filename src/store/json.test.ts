/**
 * The bigint-safe JSON codec: exact round trips (property tests over machine-like values and arbitrary
 * JSON-with-bigints trees, tag-like keys included), and refusal of anything it could not restore.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytes32, hexBytes, paramsArb, stateArb, uint256 } from "../channel/arbitraries.testutil.js";
import { RecordEncodingError } from "./errors.js";
import { decodeJson, encodeJson, JsonDecodeFailure } from "./json.js";

const phase = fc.constantFrom("Acting", "Signing", "Registered", "Withdrawn");
const sigs = fc.array(fc.option(hexBytes(65, 65), { nil: null }), { minLength: 1, maxLength: 4 });
/** Machine-shaped values (not protocol-valid; the codec does not care). */
const machineLike = fc.record({
  params: paramsArb,
  channelID: bytes32,
  idx: fc.nat({ max: 3 }),
  phase,
  current: fc.option(fc.record({ state: stateArb, sigs }), { nil: null }),
  pending: fc.option(fc.record({ state: stateArb, sigs, proposer: fc.nat({ max: 3 }) }), { nil: null }),
  dispute: fc.option(
    fc.record({ version: uint256, timeout: uint256, state: fc.option(stateArb, { nil: null }) }),
    { nil: null },
  ),
});

/** Object keys, biased towards ones that collide with the codec's tag syntax. */
const key = fc.oneof(fc.string(), fc.constantFrom("$big", "$", "$$", "$$big", "$$$big", "$x", "big", ""));
const leaf = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x)),
  fc.bigInt(),
  fc.bigInt({ min: -(1n << 300n), max: 1n << 300n }),
);
const tree = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("node"), { maxLength: 4 }),
    fc.dictionary(key, tie("node"), { maxKeys: 4 }),
  ),
})).node;

describe("encodeJson / decodeJson", () => {
  it("round-trips machine-like values exactly (bigints stay bigints)", () => {
    fc.assert(
      fc.property(machineLike, (m) => {
        // toEqual, not toStrictEqual: fast-check may build null-prototype objects, which come back as
        // plain ones. toEqual still tells 1n from 1 and "1".
        expect(decodeJson(encodeJson(m))).toEqual(m);
      }),
    );
  });

  it("round-trips any JSON-with-bigints tree, including keys that look like tags", () => {
    fc.assert(
      fc.property(tree, (v) => {
        expect(decodeJson(encodeJson(v))).toEqual(v);
      }),
      { numRuns: 500 },
    );
  });

  it("writes plain JSON as JSON.stringify does", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const keysWithDollar = JSON.stringify(v).includes('"$');
        fc.pre(!keysWithDollar);
        expect(encodeJson(v)).toBe(JSON.stringify(v));
        expect(decodeJson(encodeJson(v))).toStrictEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
  });

  it("tags bigints visibly and escapes tag-like keys", () => {
    expect(encodeJson({ version: 3n, $big: "x", $$y: [-1n] })).toBe(
      '{"version":{"$big":"3"},"$$big":"x","$$$y":[{"$big":"-1"}]}',
    );
  });

  it("drops undefined object properties, as JSON does", () => {
    expect(decodeJson(encodeJson({ a: undefined, b: 1n }))).toStrictEqual({ b: 1n });
  });

  it('keeps a "__proto__" key as data, never as the prototype', () => {
    const v: Record<string, unknown> = {};
    Object.defineProperty(v, "__proto__", { value: { polluted: 1n }, enumerable: true });
    const back = decodeJson(encodeJson(v)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(back, "__proto__")?.value).toStrictEqual({ polluted: 1n });
    const viaTag = decodeJson('{"__proto__":{"$$x":{"$big":"1"}}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(viaTag)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it.each([
    ["a function", { f: () => 1 }, "value.f"],
    ["a symbol", { s: Symbol("s") }, "value.s"],
    ["NaN", { n: [1, Number.NaN] }, "value.n[1]"],
    ["Infinity", { n: Number.POSITIVE_INFINITY }, "value.n"],
    ["undefined in an array", { a: [undefined] }, "value.a[0]"],
    ["a Map", { m: new Map() }, "value.m"],
    ["a Date", { d: new Date(0) }, "value.d"],
    ["a Uint8Array", { b: new Uint8Array(2) }, "value.b"],
    ["a class instance", { c: new (class Foo {})() }, "value.c"],
  ])("refuses %s with RecordEncodingError naming the field", (_name, v, field) => {
    expect(() => encodeJson(v)).toThrow(RecordEncodingError);
    try {
      encodeJson(v);
    } catch (e) {
      expect((e as RecordEncodingError).field).toBe(field);
    }
  });

  it.each([
    ["invalid JSON", "{", "value"],
    ["bigint tag with a number", '{"a":{"$big":1}}', "value.a"],
    ["bigint tag with a fraction", '{"a":{"$big":"1.5"}}', "value.a"],
    ["bigint tag with a leading zero", '[{"$big":"01"}]', "value[0]"],
    ["bigint tag -0", '{"$big":"-0"}', "value"],
    ["bigint tag with extra keys", '{"a":{"$big":"1","b":2}}', "value.a"],
    ["unknown tag", '{"a":{"$set":[]}}', "value.a"],
  ])("rejects %s with JsonDecodeFailure naming the path", (_name, text, path) => {
    expect(() => decodeJson(text)).toThrow(JsonDecodeFailure);
    try {
      decodeJson(text);
    } catch (e) {
      expect((e as JsonDecodeFailure).path).toBe(path);
    }
  });
});
